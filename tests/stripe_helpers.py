"""What Stripe.js does in the browser, done with the real SDK against localstripe."""

from __future__ import annotations

import json
import urllib.request

from django.conf import settings

from billing.gateway.stripe_gateway import client

VISA = "4242424242424242"
DECLINED = "4000000000000002"  # declined when saved
DECLINED_ON_CHARGE = "4000000000000341"  # saved, then declined when charged
NEEDS_AUTHENTICATION = "4000002500003155"


def card_data(number: str) -> dict:
    return {
        "type": "card",
        "card": {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123"},
    }


def confirm_setup(setup_intent_id: str, number: str, *, authenticate: bool = True):
    """Enter `number` in the card element and confirm; complete 3-D Secure when asked."""
    stripe = client().v1
    intent = stripe.setup_intents.confirm(
        setup_intent_id, params={"payment_method_data": card_data(number)}
    )
    if intent.status == "requires_action":
        if authenticate:
            intent = stripe.setup_intents.confirm(setup_intent_id)
        else:
            intent = stripe.setup_intents.cancel(setup_intent_id)
    return intent


def authenticate_payment(intent_id: str, client_secret: str, *, success: bool = True) -> dict:
    """The 3-D Secure step of `stripe.confirmCardPayment(clientSecret)` in localstripe."""
    base = f"{settings.STRIPE_API_BASE}/v1/payment_intents/{intent_id}"
    url = f"{base}/_authenticate?success={str(success).lower()}"
    body = json.dumps(
        {"key": settings.STRIPE_PUBLISHABLE_KEY, "client_secret": client_secret}
    ).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST")) as response:
        return json.load(response)


def intents_where(**metadata: str) -> list:
    """Every PaymentIntent at the gateway whose metadata has these values, through every page."""
    found = client().v1.payment_intents.list(params={"limit": 100})
    wanted = {key: str(value) for key, value in metadata.items()}
    return [
        pi for pi in found.auto_paging_iter() if wanted.items() <= pi.metadata.to_dict().items()
    ]


def intents_for(payment_code: str) -> list:
    """Every PaymentIntent made for one card payment."""
    return intents_where(payment=payment_code)


def sign(payload: bytes) -> str:
    """The `Stripe-Signature` Stripe (and localstripe) would send with `payload`."""
    import hashlib
    import hmac
    import time

    stamp = str(int(time.time()))
    digest = hmac.new(
        settings.STRIPE_WEBHOOK_SECRET.encode(), f"{stamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    return f"t={stamp},v1={digest}"


def signed_event(event_type: str, obj: dict, *, event_id: str | None = None) -> tuple[bytes, str]:
    """A webhook body and its `Stripe-Signature`, signed as Stripe (and localstripe) sign them."""
    import time
    import uuid

    payload = json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": obj},
        }
    ).encode()
    return payload, sign(payload)


def foreign_intent(
    *, amount_minor: int, currency: str, metadata: dict, customer: str | None = None
) -> dict:
    """A PaymentIntent someone made directly at the gateway, paid with a good card: not one the
    portal created. `customer` None is no customer at all."""
    stripe = client().v1
    method = stripe.payment_methods.create(params=card_data(VISA))
    params = {
        "amount": amount_minor,
        "currency": currency.lower(),
        "payment_method": method.id,
        "payment_method_types": ["card"],
        "confirm": True,
        "metadata": metadata,
    }
    if customer:
        params["customer"] = customer
    intent = stripe.payment_intents.create(params=params)
    assert intent.status == "succeeded"
    return intent.to_dict()


def other_customer() -> str:
    """A customer at the gateway that is none of ours."""
    return client().v1.customers.create(params={"name": "Mallory"}).id


def intent_as_dict(intent_id: str) -> dict:
    return client().v1.payment_intents.retrieve(intent_id).to_dict()
