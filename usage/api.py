"""The platform's two endpoints (authorize, usage ingest) and the usage listing for admins."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Literal

from django.db.models import F, QuerySet, Value
from django.db.models.lookups import LessThan
from django.http import HttpRequest, JsonResponse
from ninja import Field, Query, Router, Schema
from ninja.decorators import decorate_view
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from billing.money import quantum
from credits_portal.api import admin_auth, cursor_page, idempotent, platform_auth
from credits_portal.api_input import Text
from credits_portal.keyset import Row
from licensing.exceptions import LicensingError
from licensing.validation import clean_phone
from usage.api_records import E164_OR_EMPTY_PATTERN, E164_PATTERN, RecordsIn, RecordsOut
from usage.models import CallType, UsageRecord
from usage.services.authorize import call_authorize
from usage.services.fraud_guards import is_emergency
from usage.services.ingest import usage_ingest

router = Router(tags=["usage"])


def _e164(value: str) -> str:
    # Checked inside the schema, so that a 422 names every invalid field of the body at once.
    if is_emergency(value):  # +1911, +44999: never refused (usage.services.fraud_guards)
        return value
    try:
        clean_phone(value)
    except LicensingError:
        raise PydanticCustomError(
            "e164", "{value} is not an E.164 number.", {"value": repr(value)}
        ) from None
    return value


def _phone(pattern: str, description: str) -> object:
    # The pattern documents the shape; libphonenumber decides (an unassigned number is refused).
    return Annotated[
        Text(20),
        AfterValidator(_e164),
        Field(description=description, json_schema_extra={"pattern": pattern}),
    ]


AUTHORIZE_EXAMPLE = {
    "user": "ana@contoso.example",
    "type": "outbound",
    "to": "+442071838750",
    "from": "+14255550100",
}
AUTHORIZED_EXAMPLE = {
    "allowed": True,
    "authorization_id": "auth_4b1d2c3e5f60718293a4b5c6d7e8f901",
    "funded_by": "plan_minutes",
    "max_seconds": 5400,
    "rate_per_minute": "0.0000",
    "currency": "USD",
    "reason": "ok",
}
REFUSED_EXAMPLE = {
    "allowed": False,
    "authorization_id": None,
    "funded_by": "none",
    "max_seconds": 0,
    "rate_per_minute": "0.0230",
    "currency": "USD",
    "reason": "insufficient_balance",
}


class AuthorizeIn(Schema):
    model_config = {"json_schema_extra": {"examples": [AUTHORIZE_EXAMPLE]}}

    user: Annotated[
        Text(254), Field(description="The user's UPN; for dial-in, the meeting organiser.")
    ]
    type: Literal["outbound", "conference_dial_out", "toll_free_dial_in"]
    to: _phone(E164_PATTERN, "The number called, E.164.")
    from_: _phone(
        E164_OR_EMPTY_PATTERN, "The number called from (for dial-in: the caller), E.164."
    ) = Field("", alias="from")


class AuthorizeOut(Schema):
    model_config = {"json_schema_extra": {"examples": [AUTHORIZED_EXAMPLE, REFUSED_EXAMPLE]}}

    allowed: bool
    authorization_id: str | None = Field(
        description="Name it in the call's usage record: the record settles what it reserved."
    )
    funded_by: Literal["plan_minutes", "credits", "overage", "none"] = Field(
        description="What pays for the call's first minute; `none` when refused."
    )
    max_seconds: int = Field(ge=0, description="How long the call may last.")
    rate_per_minute: str = Field(description="This destination's rate, 4 decimals (`0.0230`).")
    currency: str = Field(description="ISO 4217.")
    reason: str = Field(
        description="`ok`, or why not: `unknown_user`, `no_license`, `no_credits_license`,"
        " `insufficient_balance`, `destination_not_rated`, `cap_reached`,"
        " `destination_blocked`."
    )


@router.post("/calls/authorize", response=AuthorizeOut, auth=platform_auth)
def authorize(request: HttpRequest, payload: AuthorizeIn):
    """May this call start, and for how long? 200 for every well-formed request; 422 naming
    every invalid field otherwise."""
    decision = call_authorize(
        organisation=request.organisation,
        upn=payload.user,
        call_type=payload.type,
        to=payload.to,
        from_=payload.from_,
    )
    # Built in the documented shape (AuthorizeOut): not validated again on the call path.
    return JsonResponse(
        {
            "allowed": decision.allowed,
            "authorization_id": decision.authorization_id,
            "funded_by": decision.funded_by,
            "max_seconds": decision.max_seconds,
            "rate_per_minute": f"{decision.rate_per_minute:.4f}",
            "currency": decision.currency,
            "reason": decision.reason,
        }
    )


@router.post("/usage/records", response=RecordsOut, auth=platform_auth, exclude_none=True)
@decorate_view(idempotent)
def records_post(request: HttpRequest, payload: RecordsIn):
    """Up to 1,000 call and SMS records (`CallRecord`, `SmsRecord`): each `rated`, `duplicate` or
    `rejected` with every invalid field in its `error`. 200 whatever each record holds: one bad
    record never fails the batch."""
    results = usage_ingest(organisation=request.organisation, records=payload.records)
    # Already in the documented shape: skip re-validating a thousand results on the way out.
    return JsonResponse({"results": [r.as_dict() for r in results]})


class RecordOut(Schema):
    id: str
    kind: str
    type: str
    user: str
    from_: str = Field(alias="from")
    to: str
    to_country: str
    started_at: datetime
    duration_seconds: int
    units: int
    plan_minutes: int
    rate_per_unit: str
    charge: str
    currency: str
    funded_by: str
    capability: str


class RecordsPage(Schema):
    records: list[RecordOut]
    next_cursor: str | None


class RecordsQuery(Schema):
    kind: Literal["call", "sms"] | None = None
    from_: date | None = Field(None, alias="from")
    to: date | None = None
    user: Text(254) | None = None
    type: Text(20) | None = None
    funded_by: Literal["plan_minutes", "credits", "overage"] | None = None
    cursor: Text(1000) | None = None
    limit: int = 100


def _record_position(text: str) -> tuple[datetime, int]:
    """The (started_at, id) a records cursor names; ValueError for anything else."""
    stamp, pk = text.split("|")
    started_at, number = datetime.fromisoformat(stamp), int(pk)
    if started_at.tzinfo is None or not 0 < number < 2**63:
        raise ValueError(text)
    return started_at, number


class _NewestFirst:
    """Records newest first (then by id), a page read as one index range scan a kind on
    `usage_org_kind_time_id`, merged: the listing needs no index of its own, which every
    ingested record would pay for (issue 16)."""

    ORDER = ("-started_at", "-id")

    def __init__(self, records: QuerySet, kinds: list[str]) -> None:
        self.records, self.kinds = records, kinds  # the kinds the filters leave

    def after(self, position: tuple[datetime, int]) -> _NewestFirst:
        """The records after (older than) the one at `position`: (started_at, id) < (…)."""
        stamp, pk = position
        older = LessThan(Row(F("started_at"), F("id")), Row(Value(stamp), Value(pk)))
        return _NewestFirst(self.records.filter(older), self.kinds)

    def __getitem__(self, bounds: slice) -> list:
        """The first `bounds.stop` records (a page is `[:n]`): their keys, then the records."""
        first, *rest = (
            self.records.filter(kind=kind)
            .order_by(*self.ORDER)
            .values_list("started_at", "id")[: bounds.stop]
            for kind in self.kinds
        )
        if rest:
            first = first.union(*rest, all=True).order_by(*self.ORDER)[bounds]
        keys = list(first)
        found = self.records.in_bulk([pk for _stamp, pk in keys])
        return [found[pk] for _stamp, pk in keys]


def _kinds(query: RecordsQuery) -> list[str]:
    """The kinds of record the query may list (a type is of one kind)."""
    if query.kind:
        return [query.kind]
    if query.type:
        return [UsageRecord.Kind.SMS if query.type == CallType.SMS else UsageRecord.Kind.CALL]
    return list(UsageRecord.Kind.values)


@router.get("/usage/records", response=RecordsPage, auth=admin_auth, by_alias=True)
def records_list(request: HttpRequest, query: Query[RecordsQuery]):
    """Rated records, newest first; `from`/`to` are UTC dates (inclusive)."""
    records = UsageRecord.objects.filter(organisation=request.organisation).select_related("user")
    if query.kind:
        records = records.filter(kind=query.kind)
    if query.from_:
        records = records.filter(started_at__gte=datetime.combine(query.from_, time.min, UTC))
    if query.to:
        records = records.filter(started_at__lt=datetime.combine(query.to, time.max, UTC))
    if query.user:
        records = records.filter(user__upn=query.user.strip().lower())
    if query.type:
        records = records.filter(type=query.type)
    if query.funded_by:
        records = records.filter(funded_by=query.funded_by)
    page, next_cursor = cursor_page(
        _NewestFirst(records, _kinds(query)),
        cursor=query.cursor,
        limit=query.limit,
        max_limit=1000,
        parse=_record_position,
        after=_NewestFirst.after,
        position=lambda r: f"{r.started_at.isoformat()}|{r.pk}",
    )
    return {
        "records": [
            {
                "id": r.record_id,
                "kind": r.kind,
                "type": r.type,
                "user": r.user.upn,
                "from": r.from_number,
                "to": r.to_number,
                "to_country": r.to_country,
                "started_at": r.started_at,
                "duration_seconds": r.duration_seconds,
                "units": r.units,
                "plan_minutes": r.plan_minutes,
                "rate_per_unit": f"{r.rate_per_unit:.4f}",
                "charge": str(r.charge.quantize(quantum(str(r.currency)))),
                "currency": str(r.currency),
                "funded_by": r.funded_by,
                "capability": r.capability,
            }
            for r in page
        ],
        "next_cursor": next_cursor,
    }
