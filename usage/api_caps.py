"""`GET|PUT /api/v1/users/{upn}/caps` (API.md, admin scope): a user's own spend caps, the
organisation's defaults and what counts against the caps now."""

from __future__ import annotations

from decimal import Decimal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema

from billing.money import quantum
from credits_portal.api import admin_auth
from credits_portal.api_input import Text
from credits_portal.audit import audit
from licensing.caps import (
    caps_defaults,
    caps_text,
    clean_caps,
    user_caps,
    user_caps_set,
    user_caps_str,
)
from licensing.models import DirectoryUser
from usage.services.caps import spend_of

router = Router(tags=["caps"], auth=admin_auth)

CAP = (
    'A decimal string in the organisation\'s currency (`"20.00"`), 0 or more, with at most its'
    " minor-unit decimals; null: no cap of the user's own (the organisation's default applies)."
)


class CapsIn(Schema):
    model_config = {"json_schema_extra": {"examples": [{"daily": "20.00", "monthly": "200.00"}]}}

    daily: Text(30) | None = Field(
        ..., description=f"What the user's calls may cost per UTC day. {CAP}"
    )
    monthly: Text(30) | None = Field(
        ..., description=f"What the user's calls may cost per calendar month (UTC). {CAP}"
    )


class CapsOut(Schema):
    upn: str
    currency: str
    daily: str | None = Field(description="The user's own daily cap; null: none of their own.")
    monthly: str | None
    default_daily: str | None = Field(description="The organisation's default for every user.")
    default_monthly: str | None
    organisation_daily: str | None = Field(description="All the organisation's calls per day.")
    spent_today: str = Field(description="What the user's calls cost today, and may still cost.")
    spent_this_month: str


def _user(request: HttpRequest, upn: str) -> DirectoryUser:
    return get_object_or_404(
        DirectoryUser, organisation=request.organisation, upn=upn.strip().lower()
    )


def _out(request: HttpRequest, user: DirectoryUser) -> dict:
    organisation = request.organisation
    currency = str(organisation.currency)
    own = user_caps(user)
    defaults = caps_text(caps_defaults(organisation))
    spend = spend_of(organisation_id=organisation.pk, user_id=user.pk)

    def money(amount: Decimal) -> str:
        return str(amount.quantize(quantum(currency)))

    return {
        "upn": user.upn,
        "currency": currency,
        **user_caps_str(own, currency),
        "default_daily": defaults["user_daily"],
        "default_monthly": defaults["user_monthly"],
        "organisation_daily": defaults["organisation_daily"],
        "spent_today": money(spend.user_day + spend.held_user_day),
        "spent_this_month": money(spend.user_month + spend.held_user_month),
    }


@router.get("/users/{upn}/caps", response=CapsOut)
def caps_get(request: HttpRequest, upn: Text(254)):
    """The user's own caps, the organisation's defaults, and what counts against them now."""
    return _out(request, _user(request, upn))


@router.put("/users/{upn}/caps", response=CapsOut)
def caps_put(request: HttpRequest, upn: Text(254), payload: CapsIn):
    """Set the user's own daily and monthly caps (null: the default applies); 422 naming each
    bad amount (negative, too many decimals, not a decimal string); 404 for a user not in this
    organisation. Authorization applies them within a second."""
    user = _user(request, upn)
    caps = clean_caps(
        {"daily": payload.daily, "monthly": payload.monthly}, str(request.organisation.currency)
    )
    before, after = user_caps_set(user=user, daily=caps["daily"], monthly=caps["monthly"])
    currency = str(request.organisation.currency)
    before, after = user_caps_str(before, currency), user_caps_str(after, currency)
    audit(request, "caps.user_changed", user.upn, before=before, after=after)
    return _out(request, user)
