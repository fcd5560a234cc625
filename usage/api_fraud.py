"""`GET|PUT /api/v1/account/fraud-guards` (API.md), for admin keys: the toll-fraud guards.

The same service as Settings › Fraud guards (`fraud_guards_save`): a PUT replaces every guard,
all or nothing, and authorization applies them from the next call.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field, Router, Schema
from pydantic import StrictInt

from credits_portal.api import admin_auth
from credits_portal.api_input import Text
from credits_portal.audit import audit
from usage.models import GUARD_MAX_BLOCKED, GUARD_MAX_RATE, GUARD_SECONDS
from usage.services.fraud_guards import (
    fraud_guard_as_dict,
    fraud_guard_of,
    fraud_guards_save,
)

router = Router(tags=["account"], auth=admin_auth)

EXAMPLE = {
    "max_rate_per_minute": "1.0000",
    "blocked_prefixes": ["+870", "+881", "+882", "+883", "+979", "CU"],
    "max_call_seconds": {"outbound": 7200, "conference_dial_out": 3600, "toll_free_dial_in": None},
}


def _seconds(call_type: str) -> object:
    low, high = GUARD_SECONDS
    return Field(
        None,
        description=f"The longest {call_type} call, in seconds; null: the platform's own limit.",
        json_schema_extra={"minimum": low, "maximum": high},
    )


class MaxCallSeconds(Schema):
    model_config = {"extra": "forbid"}

    outbound: StrictInt | None = _seconds("outbound")
    conference_dial_out: StrictInt | None = _seconds("conference dial-out")
    toll_free_dial_in: StrictInt | None = _seconds("toll-free dial-in")


class FraudGuardsIn(Schema):
    model_config = {"json_schema_extra": {"examples": [EXAMPLE]}}

    max_rate_per_minute: Text(30) | None = Field(
        description="Calls to a destination whose rate per minute is higher are refused"
        ' (`destination_blocked`); a decimal string in the organisation\'s currency (`"1.0000"`,'
        f" at most 4 decimals, less than {GUARD_MAX_RATE}); null: no maximum."
    )
    blocked_prefixes: list[Text(16)] = Field(
        max_length=GUARD_MAX_BLOCKED,
        description='E.164 prefixes (`"+882"`) and ISO 3166 countries (`"CU"`) no call may reach.',
    )
    max_call_seconds: MaxCallSeconds = Field(
        description="The longest call of each type (shortens `max_seconds`); a type left out has"
        " no limit but the platform's."
    )


class MaxCallSecondsOut(Schema):
    outbound: int | None
    conference_dial_out: int | None
    toll_free_dial_in: int | None


class FraudGuardsOut(Schema):
    max_rate_per_minute: str | None
    currency: str
    blocked_prefixes: list[str]
    max_call_seconds: MaxCallSecondsOut


@router.get("/account/fraud-guards", response=FraudGuardsOut)
def fraud_guards_detail(request: HttpRequest):
    """The toll-fraud guards authorization applies to every call of the organisation."""
    return fraud_guard_as_dict(fraud_guard_of(request.organisation))


@router.put("/account/fraud-guards", response=FraudGuardsOut)
def fraud_guards_update(request: HttpRequest, payload: FraudGuardsIn):
    """Replace the guards, all or nothing: 422 naming every invalid field. They apply from the
    next authorization (in every process within a second). Emergency numbers pass them all."""
    before = fraud_guard_as_dict(fraud_guard_of(request.organisation))
    guard = fraud_guards_save(  # a FraudGuardError is a 422 naming every invalid field
        organisation=request.organisation,
        max_rate_per_minute=payload.max_rate_per_minute,
        blocked_prefixes=payload.blocked_prefixes,
        max_call_seconds=payload.max_call_seconds.model_dump(),
    )
    after = fraud_guard_as_dict(guard)
    audit(request, "fraud_guards.changed", before=before, after=after)
    return after
