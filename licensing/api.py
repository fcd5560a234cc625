"""Directory users, licenses and subscriptions for admin keys (API.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status
from ninja.decorators import decorate_view

from credits_portal.api import (
    ApiProblem,
    FieldErrors,
    admin_auth,
    cursor_page,
    idempotent,
    invalid_all,
)
from credits_portal.api_input import Text
from credits_portal.audit import audit
from licensing.exceptions import AssignmentRefused, LicensingError
from licensing.models import DirectoryUser, Product, Subscription
from licensing.services import (
    Change,
    catalogue,
    license_change,
    price_text,
    renews_at,
    seat_prices,
    user_licenses,
    users_upsert,
)
from licensing.validation import clean_user

router = Router(tags=["licensing"], auth=admin_auth)


Upn = Text(254)
Sku = Text(40)


class UserIn(Schema):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "upn": "ana@contoso.example",
                    "display_name": "Ana Silva",
                    "usage_location": "US",
                    "phone_number": "+14255550100",
                }
            ]
        }
    }

    upn: Upn = Field(description="The user's sign-in name, an email address.")
    display_name: Text(200) = Field(description="1 to 200 characters.")
    usage_location: Text(2) = Field(
        description="ISO 3166-1 alpha-2 country: decides which calls are domestic."
    )
    phone_number: Text(20) | None = Field(None, description="E.164 (`+14255550100`), or empty.")


class UserOut(Schema):
    upn: str
    display_name: str
    usage_location: str
    phone_number: str
    licenses: list[str]


class UsersOut(Schema):
    users: list[UserOut]
    next_cursor: str | None


class UsersQuery(Schema):
    cursor: Text(1000) | None = None
    limit: int = 100
    q: Text(254) | None = None


SKU_LIST = "SKUs (`PHONE_SYSTEM`, `CALLING_DOMESTIC`, …; see `GET /subscriptions`)"


class LicensesIn(Schema):
    model_config = {
        "json_schema_extra": {
            "examples": [{"assign": ["PHONE_SYSTEM", "CALLING_DOMESTIC"], "remove": []}]
        }
    }

    # The catalogue has a handful of SKUs: a longer list is a mistake, not a request.
    assign: Annotated[list[Sku], Field(max_length=100, description=f"{SKU_LIST} to assign.")] = []
    remove: Annotated[list[Sku], Field(max_length=100, description=f"{SKU_LIST} to remove.")] = []


class LicensesOut(Schema):
    upn: str
    licenses: list[str]


class SubscriptionOut(Schema):
    sku: str
    name: str
    seats: int
    assigned: int
    price: str | None = Field(description="Per seat and month in `currency`; null: no price.")
    currency: str
    renews_at: datetime


def _user_out(user: DirectoryUser, licenses: set[str]) -> dict:
    return {
        "upn": user.upn,
        "display_name": user.display_name,
        "usage_location": user.usage_location.code,
        "phone_number": user.phone_number,
        "licenses": sorted(licenses),
    }


def _user(request: HttpRequest, upn: str) -> DirectoryUser:
    return get_object_or_404(
        DirectoryUser, organisation=request.organisation, upn=upn.strip().lower()
    )


@router.get("/users", response=UsersOut)
def users_list(request: HttpRequest, query: Query[UsersQuery]):
    """Directory users by UPN; follow `next_cursor` for more. `q` matches UPN or display name."""
    users = DirectoryUser.objects.filter(organisation=request.organisation).order_by("upn")
    if query.q:
        users = users.filter(upn__icontains=query.q) | users.filter(display_name__icontains=query.q)
    page, next_cursor = cursor_page(
        users.prefetch_related("assignments__product"),
        cursor=query.cursor,
        limit=query.limit,
        max_limit=500,
        parse=str,
        after=lambda users, upn: users.filter(upn__gt=upn),
        position=lambda user: user.upn,
    )
    return {
        "users": [_user_out(u, {a.product.sku for a in u.assignments.all()}) for u in page],
        "next_cursor": next_cursor,
    }


@router.post("/users", response={200: UserOut, 201: UserOut})
@decorate_view(idempotent)
def users_create(request: HttpRequest, payload: UserIn):
    """Create a directory user, or update the one with this UPN."""
    try:
        row = clean_user(payload.dict())
    except LicensingError as exc:
        raise invalid_all(exc.errors or {exc.field or "body": [exc.message]}) from None
    existed = DirectoryUser.objects.filter(organisation=request.organisation, upn=row.upn).exists()
    users_upsert(organisation=request.organisation, rows=[row])
    audit(request, "users.imported", row.upn, after={"rows": 1})
    user = _user(request, row.upn)
    return Status(200 if existed else 201, _user_out(user, user_licenses(user)))


@router.get("/users/{upn}/licenses", response=LicensesOut)
def licenses_get(request: HttpRequest, upn: Upn):
    user = _user(request, upn)
    return {"upn": user.upn, "licenses": sorted(user_licenses(user))}


@router.post("/users/{upn}/licenses", response=LicensesOut)
@decorate_view(idempotent)
def licenses_change(request: HttpRequest, upn: Upn, payload: LicensesIn):
    """Assign and remove licenses, all or nothing: 409 for no seats, a missing prerequisite or a
    license another still needs; 422 for an unknown SKU."""
    user = _user(request, upn)
    _known_skus(payload)
    try:
        final = license_change(
            organisation=request.organisation,
            changes=[
                Change(
                    user, {s.upper() for s in payload.assign}, {s.upper() for s in payload.remove}
                )
            ],
            actor=f"API key {request.api_key.name}",
            source="api",
        )
    except AssignmentRefused as exc:
        raise ApiProblem(
            409, "Conflict", " ".join(exc.problems[user.upn]), code="license_refused"
        ) from None
    audit(request, "licenses.changed", user.upn, after={"licenses": sorted(final[user.pk])})
    return {"upn": user.upn, "licenses": sorted(final[user.pk])}


def _known_skus(payload: LicensesIn) -> None:
    """422 naming `assign` and `remove`, each with its unknown SKUs, before anything changes."""
    products = catalogue()
    problems = FieldErrors()
    for name, skus in (("assign", payload.assign), ("remove", payload.remove)):
        unknown = sorted({s.upper() for s in skus} - set(products))
        if unknown:
            problems.add(
                name, f"Unknown license {', '.join(unknown)}; one of {', '.join(products)}."
            )
    problems.raise_any()


def subscription_out(
    product: Product, subscription: Subscription | None, currency: str, prices: dict
) -> dict:
    """A license as `GET /subscriptions` lists it (also the answer of a seat change)."""
    return {
        "sku": product.sku,
        "name": product.name,
        "seats": subscription.seats if subscription else 0,
        "assigned": subscription.assigned if subscription else 0,
        "price": price_text(prices.get(product.pk), currency),
        "currency": currency,
        "renews_at": renews_at(),
    }


@router.get("/subscriptions", response=list[SubscriptionOut])
def subscriptions(request: HttpRequest):
    """Every license in the catalogue with the organisation's seats and assignments, the price
    of a seat per month in the organisation's currency, and when seats next renew."""
    organisation = request.organisation
    currency = str(organisation.currency)
    held = {s.product_id: s for s in Subscription.objects.filter(organisation=organisation)}
    prices = seat_prices(currency)
    return [
        subscription_out(product, held.get(product.pk), currency, prices)
        for product in catalogue().values()
    ]
