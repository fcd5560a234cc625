"""The platform's two endpoints (authorize, usage ingest) and the usage listing for admins."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from django.http import HttpRequest, JsonResponse
from ninja import Field, Query, Router, Schema
from ninja.decorators import decorate_view

from billing.money import quantum
from credits_portal.api import ApiProblem, admin_auth, idempotent, platform_auth
from licensing.exceptions import LicensingError
from licensing.validation import clean_phone
from usage.models import UsageRecord
from usage.services.authorize import call_authorize
from usage.services.ingest import MAX_BATCH, usage_ingest

router = Router(tags=["usage"])


class AuthorizeIn(Schema):
    # No control characters: PostgreSQL text cannot hold NUL, and no UPN has any.
    user: str = Field(max_length=254, pattern=r"^[^\x00-\x1f\x7f]*$")
    type: Literal["outbound", "conference_dial_out", "toll_free_dial_in"]
    to: str = Field(max_length=20)
    from_: str = Field("", alias="from", max_length=20)


class AuthorizeOut(Schema):
    allowed: bool
    authorization_id: str | None
    funded_by: str
    max_seconds: int
    rate_per_minute: str
    currency: str
    reason: str


def _invalid(field: str, message: str) -> ApiProblem:
    return ApiProblem(422, "Invalid values", message, code="validation", errors={field: [message]})


@router.post("/calls/authorize", response=AuthorizeOut, auth=platform_auth)
def authorize(request: HttpRequest, payload: AuthorizeIn):
    """May this call start, and for how long? 200 for every well-formed request."""
    for name, value in (("to", payload.to), ("from", payload.from_)):
        try:
            clean_phone(value)
        except LicensingError:
            raise _invalid(name, f"{value!r} is not an E.164 number.") from None
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
    user: str | None = None
    type: str | None = None
    funded_by: Literal["plan_minutes", "credits", "overage"] | None = None
    cursor: str | None = None
    limit: int = 100


@router.get("/usage/records", response=RecordsPage, auth=admin_auth, by_alias=True)
def records_list(request: HttpRequest, query: Query[RecordsQuery]):
    """Rated records, newest first; `from`/`to` are UTC dates (inclusive)."""
    if not 1 <= query.limit <= 1000:
        raise _invalid("limit", "Between 1 and 1000.")
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
    records = records.order_by("-started_at", "-id")
    if query.cursor:
        try:
            stamp, pk = base64.urlsafe_b64decode(query.cursor.encode()).decode().split("|")
            records = records.filter(started_at__lte=datetime.fromisoformat(stamp)).exclude(
                started_at=datetime.fromisoformat(stamp), id__gte=int(pk)
            )
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise _invalid("cursor", "Not a cursor this API gave.") from None
    page = list(records[: query.limit + 1])
    more = len(page) > query.limit
    page = page[: query.limit]
    last = page[-1] if page else None
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
        "next_cursor": (
            base64.urlsafe_b64encode(f"{last.started_at.isoformat()}|{last.pk}".encode()).decode()
            if more and last
            else None
        ),
    }
