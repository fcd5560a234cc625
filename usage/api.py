"""The platform's two endpoints (authorize, usage ingest) and the usage listing for admins."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from ninja import Field, Query, Router, Schema
from ninja.decorators import decorate_view

from billing.money import quantum
from credits_portal.api import admin_auth, cursor_page, idempotent, invalid, platform_auth
from credits_portal.api_input import Text
from licensing.exceptions import LicensingError
from licensing.validation import clean_phone
from usage.models import UsageRecord
from usage.services.authorize import call_authorize
from usage.services.ingest import MAX_BATCH, usage_ingest

router = Router(tags=["usage"])


class AuthorizeIn(Schema):
    user: Text(254)
    type: Literal["outbound", "conference_dial_out", "toll_free_dial_in"]
    to: Text(20)
    from_: Text(20) = Field("", alias="from")


class AuthorizeOut(Schema):
    allowed: bool
    authorization_id: str | None
    funded_by: str
    max_seconds: int
    rate_per_minute: str
    currency: str
    reason: str


@router.post("/calls/authorize", response=AuthorizeOut, auth=platform_auth)
def authorize(request: HttpRequest, payload: AuthorizeIn):
    """May this call start, and for how long? 200 for every well-formed request."""
    for name, value in (("to", payload.to), ("from", payload.from_)):
        try:
            clean_phone(value)
        except LicensingError:
            raise invalid(name, f"{value!r} is not an E.164 number.") from None
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


class RecordsIn(Schema):
    records: list[Any] = Field(..., max_length=MAX_BATCH)


class RecordResult(Schema):
    id: str
    status: str
    error: str | None = None
    charge: str | None = None
    currency: str | None = None
    funded_by: str | None = None
    plan_minutes: int | None = None


class RecordsOut(Schema):
    results: list[RecordResult]


@router.post("/usage/records", response=RecordsOut, auth=platform_auth, exclude_none=True)
@decorate_view(idempotent)
def records_post(request: HttpRequest, payload: RecordsIn):
    """Up to 1,000 call and SMS records: each `rated`, `duplicate` or `rejected` with a reason."""
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


def _records_after(records: QuerySet, position: tuple[datetime, int]) -> QuerySet:
    stamp, pk = position
    return records.filter(started_at__lte=stamp).exclude(started_at=stamp, id__gte=pk)


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
        records.order_by("-started_at", "-id"),
        cursor=query.cursor,
        limit=query.limit,
        max_limit=1000,
        parse=_record_position,
        after=_records_after,
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
