"""`POST /api/v1/subscriptions/{sku}/seats` (API.md), for admin keys: buy or release seats.

The same services as Billing › Your products: `seats_buy` pays the rest of the month and adds
the seats together, `seats_release` releases unassigned seats from the next renewal.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest
from ninja import Field, Router, Schema
from ninja.decorators import decorate_view
from pydantic import StrictInt

from billing.api_purchases import InvoiceOut, invoice_out
from billing.services.ledger import account_for
from credits_portal.api import (
    FieldErrors,
    admin_auth,
    idempotency_token,
    idempotent_gateway,
    invalid,
)
from credits_portal.api_input import Text
from credits_portal.audit import actor_of
from licensing.api import SubscriptionOut, subscription_out
from licensing.models import Product, Subscription
from licensing.services import MAX_SEATS, catalogue, seat_count, seat_prices, seats_release
from usage.services.seats import seats_buy
from usage.views_products import seats_audit

router = Router(tags=["licensing"], auth=admin_auth)


def _count(description: str) -> object:
    # The bounds are documented, and checked by `seat_count` (a 422 naming the field).
    return Field(
        None,
        description=description,
        json_schema_extra={"minimum": 1, "maximum": MAX_SEATS},
    )


class SeatsIn(Schema):
    """Either `add` or `release`."""

    model_config = {
        "json_schema_extra": {
            "examples": [{"add": 5}, {"add": 5, "agreement": "EA-4500123"}, {"release": 2}]
        }
    }

    add: StrictInt | None = _count("Seats to buy now; the rest of the month is invoiced.")
    release: StrictInt | None = _count("Unassigned seats to release from the next renewal.")
    agreement: Text(40) | None = Field(
        None, description="With `add`: a registered agreement to invoice, not the default method."
    )


class SeatsOut(Schema):
    subscription: SubscriptionOut
    invoice: InvoiceOut | None = None


def _product(sku: str) -> Product:
    product = catalogue().get(sku.strip().upper())
    if product is None:
        raise Http404("No such license.")
    return product


@router.post("/subscriptions/{sku}/seats", response=SeatsOut)
@decorate_view(idempotent_gateway)
def seats_change(request: HttpRequest, sku: Text(40), payload: SeatsIn):
    """Buy seats (`add`: the rest of the month is invoiced to the named registered agreement, else
    the default payment method) or release unassigned ones (`release`: from the next renewal).
    409 releasing assigned seats, an unregistered agreement, nothing to pay with; 422 a count
    that is not a positive whole number. Accepts `Idempotency-Key`."""
    product = _product(sku)
    organisation = request.organisation
    invoice = None
    if payload.add is not None:
        if payload.release is not None:
            raise invalid("add", "Send either `add` or `release`, not both.")
        # Checked before the agreement: the count's problem is the one named.
        seat_count(payload.add, field="add")
        subscription, invoice = seats_buy(
            organisation=organisation,
            sku=product.sku,
            count=payload.add,
            agreement_number=payload.agreement,
            reference=f"api:{idempotency_token(request)}",
            actor=actor_of(request),
        )
        seats_audit(request, "seats.bought", subscription, add=payload.add, invoice=invoice)
    else:
        # Without `add`, the request is about the seats held: another organisation's are not ours.
        subscription = Subscription.objects.filter(
            organisation=organisation, product=product
        ).first()
        if subscription is None:
            raise Http404("This organisation holds no seats of that license.")
        problems = FieldErrors()  # every invalid field named at once
        if payload.agreement is not None:
            problems.add("agreement", "An agreement pays for seats added, not released.")
        if payload.release is None:
            problems.add("release", "Send `add` or `release`, a number of seats.")
        else:
            problems.check("release", lambda: seat_count(payload.release, field="release"))
        problems.raise_any()
        subscription = seats_release(
            subscription=subscription,
            count=payload.release,
            reference=f"api:{idempotency_token(request)}",
            actor=actor_of(request),
        )
        seats_audit(request, "seats.released", subscription, release=payload.release)
    currency = str(account_for(organisation).currency)
    return {
        "subscription": subscription_out(product, subscription, currency, seat_prices(currency)),
        "invoice": invoice_out(invoice) if invoice else None,
    }
