"""The gateway interface and its plain answers (re-exported by `billing.gateway`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from django.db import models


class PaymentStatus(models.TextChoices):
    """Where a gateway payment stands, whatever the gateway calls it."""

    PROCESSING = "processing", "Processing"
    REQUIRES_ACTION = "requires_action", "Waiting for the cardholder to authenticate"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Declined or canceled"


class EventKind(models.TextChoices):
    """What a webhook event is about, as far as the portal acts on it."""

    PAYMENT = "payment", "A payment succeeded or failed"
    OTHER = "other", "Nothing the portal acts on"


@dataclass(frozen=True)
class GatewayPayment:
    """A payment (Stripe: PaymentIntent) as the gateway has it now."""

    id: str
    status: PaymentStatus
    amount_minor: int
    currency: str  # upper case, as our accounts hold it
    customer: str  # "" when it has none
    payment_method: str
    metadata: dict[str, str]
    error_code: str = ""
    decline_code: str = ""
    error_message: str = ""
    client_secret: str = ""
    gateway: str = "stripe"

    @property
    def reference(self) -> str:
        """The ledger reference of the lot it pays for: one lot per gateway payment."""
        return f"{self.gateway}:{self.id}"


@dataclass(frozen=True)
class GatewaySetup:
    """A card being saved for later off-session charges (Stripe: SetupIntent)."""

    id: str
    client_secret: str
    succeeded: bool
    customer: str
    payment_method: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class GatewayCard:
    """A saved card (Stripe: PaymentMethod of type card)."""

    id: str
    customer: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class GatewayEvent:
    """A verified webhook event. `payment_id` names the payment it is about ("" when the event
    names none usably); `problem` says what was wrong with it, for the log."""

    id: str
    type: str
    kind: EventKind
    payment_id: str = ""
    problem: str = ""


class GatewayError(Exception):
    """The gateway refused or failed; `message` can be shown to the user."""

    def __init__(self, message: str = "", *, code: str = "") -> None:
        super().__init__(message or code or "payment gateway error")
        self.message = message or "The payment service refused the request."
        self.code = code


class CardError(GatewayError):
    """The card was declined. `payment_id` is the payment the decline belongs to, if one was made."""

    def __init__(
        self, message: str = "", *, code: str = "", decline_code: str = "", payment_id: str = ""
    ) -> None:
        super().__init__(message or "The card was declined.", code=code)
        self.decline_code = decline_code
        self.payment_id = payment_id


class ConnectionFailed(GatewayError):
    """No answer: the request may or may not have been carried out."""


class NotFound(GatewayError):
    """The gateway has no such object."""


class BadSignature(GatewayError):
    """A webhook whose signature does not verify: not from the gateway."""


class MalformedEvent(GatewayError):
    """A correctly signed webhook body that is not an event; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, code="malformed_event")
        self.field = field


class PaymentGateway(Protocol):
    """Every call the portal makes to a payment gateway. Each raises `GatewayError` (or a
    subclass) and nothing else; none is made inside a database transaction."""

    name: str

    def customer_create(self, *, name: str, metadata: Mapping[str, str], key: str) -> str:
        """A new customer's id; `key` makes a repeat return the same customer."""
        ...

    def setup_create(self, *, customer: str, metadata: Mapping[str, str]) -> GatewaySetup: ...

    def setup_retrieve(self, setup_id: str) -> GatewaySetup: ...

    def card_retrieve(self, method_id: str) -> GatewayCard: ...

    def card_attach(self, method_id: str, *, customer: str) -> GatewayCard: ...

    def card_detach(self, method_id: str) -> None: ...

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
        """Charge a saved card now; `key` makes a repeat return the same payment."""
        ...

    def payment_retrieve(self, payment_id: str) -> GatewayPayment: ...

    def payment_find(self, *, customer: str, metadata: Mapping[str, str]) -> GatewayPayment | None:
        """A recent payment of `customer` whose metadata has these values, if any."""
        ...

    def event_parse(self, *, payload: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        """The event in a webhook request, once its signature verifies: `BadSignature` when it
        does not, `MalformedEvent` when the signed body is not an event."""
        ...
