"""Stripe behind `PaymentGateway`: Stripe itself, or `localstripe` via STRIPE_API_BASE.

Only the fields `localstripe` understands are sent, so the same calls run against both. Every
SDK error becomes one of `billing.gateway`'s errors, and every answer a plain dataclass.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import stripe
from django.conf import settings

from billing.gateway.base import (
    BadSignature,
    CardError,
    ConnectionFailed,
    EventKind,
    GatewayCard,
    GatewayError,
    GatewayEvent,
    GatewayPayment,
    GatewaySetup,
    MalformedEvent,
    NotFound,
    PaymentStatus,
)

log = logging.getLogger(__name__)

# The events the portal acts on; the object they carry is a PaymentIntent.
PAYMENT_EVENTS = {"payment_intent.succeeded", "payment_intent.payment_failed"}
# What an id may look like before it goes into a URL path.
OBJECT_ID = re.compile(r"^[A-Za-z0-9_]{1,255}$")
# How far back `payment_find` looks: a worker that died is minutes old, not thousands of charges.
FIND_PAGES = 10
SIGNATURE_TOLERANCE = 300  # seconds, as Stripe's SDK


def client() -> stripe.StripeClient:
    base = settings.STRIPE_API_BASE
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": base} if base else None,
        max_network_retries=2,
    )


@contextmanager
def _translated() -> Iterator[None]:
    """The SDK's errors as the interface's."""
    try:
        yield
    except stripe.CardError as exc:
        error = exc.error
        intent = getattr(error, "payment_intent", None) if error is not None else None
        raise CardError(
            exc.user_message or str(exc),
            code=exc.code or "card_declined",
            decline_code=(getattr(error, "decline_code", None) or "") if error else "",
            payment_id=(getattr(intent, "id", None) or "") if intent else "",
        ) from exc
    except stripe.APIConnectionError as exc:
        raise ConnectionFailed(str(exc), code="connection_failed") from exc
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            raise NotFound(exc.user_message or str(exc), code=exc.code or "not_found") from exc
        raise GatewayError(exc.user_message or str(exc), code=exc.code or "") from exc
    except stripe.StripeError as exc:
        raise GatewayError(exc.user_message or str(exc), code=exc.code or "") from exc


def _plain(obj: Any) -> dict:
    if obj is None:
        return {}
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _field(obj: Any, name: str) -> Any:
    """A field the object may lack (StripeObject raises AttributeError for absent keys)."""
    return getattr(obj, name, None)


def _id(value: Any) -> str:
    """An id field, which Stripe may expand into the object."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(getattr(value, "id", "") or "")


def _strings(mapping: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in _plain(mapping).items()}


_STATUSES = {
    "succeeded": PaymentStatus.SUCCEEDED,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "requires_payment_method": PaymentStatus.FAILED,
    "canceled": PaymentStatus.FAILED,
}


def _payment(intent) -> GatewayPayment:
    raw = intent.status
    status = _STATUSES.get(raw, PaymentStatus.PROCESSING)
    error = _plain(_field(intent, "last_payment_error"))
    code = error.get("code") or ""
    if status == PaymentStatus.FAILED and not code:
        code = raw  # "canceled", or declined without saying why
    return GatewayPayment(
        id=intent.id,
        status=status,
        amount_minor=int(intent.amount),
        currency=str(intent.currency).upper(),
        customer=_id(_field(intent, "customer")),
        payment_method=_id(_field(intent, "payment_method")),
        metadata=_strings(_field(intent, "metadata")),
        error_code=code,
        decline_code=error.get("decline_code") or "",
        error_message=error.get("message") or "",
        client_secret=_field(intent, "client_secret") or "",
    )


def _setup(intent) -> GatewaySetup:
    return GatewaySetup(
        id=intent.id,
        client_secret=_field(intent, "client_secret") or "",
        succeeded=intent.status == "succeeded",
        customer=_id(_field(intent, "customer")),
        payment_method=_id(_field(intent, "payment_method")),
        metadata=_strings(_field(intent, "metadata")),
    )


def _card(method) -> GatewayCard:
    card = method.card
    return GatewayCard(
        id=method.id,
        customer=_id(_field(method, "customer")),
        brand=card.brand or "card",
        last4=card.last4,
        exp_month=int(card.exp_month),
        exp_year=int(card.exp_year),
    )


class StripeGateway:
    name = "stripe"

    def __init__(self) -> None:
        self._api = client().v1

    def customer_create(self, *, name: str, metadata: Mapping[str, str], key: str) -> str:
        with _translated():
            customer = self._api.customers.create(
                params={"name": name, "metadata": dict(metadata)},
                options={"idempotency_key": key},
            )
        return customer.id

    def setup_create(self, *, customer: str, metadata: Mapping[str, str]) -> GatewaySetup:
        with _translated():
            return _setup(
                self._api.setup_intents.create(
                    params={
                        "customer": customer,
                        "usage": "off_session",
                        "payment_method_types": ["card"],
                        "metadata": dict(metadata),
                    }
                )
            )

    def setup_retrieve(self, setup_id: str) -> GatewaySetup:
        _check_id(setup_id)
        with _translated():
            return _setup(self._api.setup_intents.retrieve(setup_id))

    def card_retrieve(self, method_id: str) -> GatewayCard:
        _check_id(method_id)
        with _translated():
            return _card(self._api.payment_methods.retrieve(method_id))

    def card_attach(self, method_id: str, *, customer: str) -> GatewayCard:
        _check_id(method_id)
        with _translated():
            return _card(self._api.payment_methods.attach(method_id, params={"customer": customer}))

    def card_detach(self, method_id: str) -> None:
        _check_id(method_id)
        with _translated():
            self._api.payment_methods.detach(method_id)

    def charge_create(
        self,
        *,
        amount_minor: int,
        currency: str,
        customer: str,
        payment_method: str,
        metadata: Mapping[str, str],
        key: str,
        off_session: bool,
    ) -> GatewayPayment:
        params: dict[str, Any] = {
            "amount": amount_minor,
            "currency": currency.lower(),
            "customer": customer,
            "payment_method": payment_method,
            "payment_method_types": ["card"],
            "confirm": True,
            "metadata": dict(metadata),
        }
        if off_session:
            params["off_session"] = True
        with _translated():
            return _payment(
                self._api.payment_intents.create(params=params, options={"idempotency_key": key})
            )

    def payment_retrieve(self, payment_id: str) -> GatewayPayment:
        _check_id(payment_id)
        with _translated():
            return _payment(self._api.payment_intents.retrieve(payment_id))

    def payment_find(self, *, customer: str, metadata: Mapping[str, str]) -> GatewayPayment | None:
        # localstripe lists without a customer filter, so both are matched here.
        if not customer:
            return None
        wanted = dict(metadata).items()
        with _translated():
            page = self._api.payment_intents.list(params={"limit": 100})
            for _ in range(FIND_PAGES):
                for intent in page.data:
                    found = _strings(_field(intent, "metadata")).items()
                    if _id(_field(intent, "customer")) == customer and wanted <= found:
                        return _payment(intent)
                if not page.has_more:
                    return None
                page = self._api.payment_intents.list(
                    params={"limit": 100, "starting_after": page.data[-1].id}
                )
        return None

    def event_parse(self, *, payload: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        try:
            text = payload.decode("utf-8")
            stripe.WebhookSignature.verify_header(
                text,
                headers.get("Stripe-Signature", ""),
                settings.STRIPE_WEBHOOK_SECRET,
                SIGNATURE_TOLERANCE,
            )
        except (UnicodeDecodeError, stripe.SignatureVerificationError) as exc:
            raise BadSignature(str(exc), code="bad_signature") from exc
        return event_from(text)


def _check_id(value: str) -> None:
    if not isinstance(value, str) or not OBJECT_ID.match(value):
        raise NotFound(f"No such object: {value!r}", code="not_found")


def event_from(text: str) -> GatewayEvent:
    """A verified body as an event. What the portal cannot record (no id, no type) is
    `MalformedEvent`; a payment event whose object is unusable is an event naming no payment."""
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise MalformedEvent("body", "The body is not JSON.") from exc
    if not isinstance(body, dict):
        raise MalformedEvent("body", "The body is not a JSON object.")
    event_id, event_type = body.get("id"), body.get("type")
    # Both are stored: NUL or a lone surrogate (valid JSON escapes) would fail in PostgreSQL.
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 255 or not event_id.isprintable():
        raise MalformedEvent("id", "The event has no id.")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 100:
        raise MalformedEvent("type", "The event has no type.")
    if not event_type.isprintable():
        raise MalformedEvent("type", "The event has no type.")
    if event_type not in PAYMENT_EVENTS:
        return GatewayEvent(id=event_id, type=event_type, kind=EventKind.OTHER)
    data = body.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    payment_id = obj.get("id") if isinstance(obj, dict) else None
    problem = ""
    if not isinstance(data, dict):
        problem = "data is not an object"
    elif not isinstance(obj, dict):
        problem = "data.object is not an object"
    elif not isinstance(payment_id, str) or not OBJECT_ID.match(payment_id):
        problem = "data.object.id is not a PaymentIntent id"
    return GatewayEvent(
        id=event_id,
        type=event_type,
        kind=EventKind.PAYMENT,
        payment_id="" if problem else payment_id,
        problem=problem,
    )
