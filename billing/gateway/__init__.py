"""The payment gateway as the services see it: a small interface and plain answers.

`billing.services` talk to a `PaymentGateway` and read `GatewayPayment`, `GatewaySetup`,
`GatewayCard` and `GatewayEvent`; they never see a gateway's SDK or its objects. Stripe is
`stripe_gateway.StripeGateway`; a second gateway is one more module implementing the same
methods, answering the same dataclasses and raising the errors of `base`, chosen in `active()`.
"""

from __future__ import annotations

# The interface lives in `base` so that a gateway module imports it without importing this
# package's `active()`, which imports the gateway modules.
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
    PaymentGateway,
    PaymentStatus,
)

__all__ = [
    "BadSignature",
    "CardError",
    "ConnectionFailed",
    "EventKind",
    "GatewayCard",
    "GatewayError",
    "GatewayEvent",
    "GatewayPayment",
    "GatewaySetup",
    "MalformedEvent",
    "NotFound",
    "PaymentGateway",
    "PaymentStatus",
]


def active() -> PaymentGateway:
    """The gateway the portal pays through (configured from settings at each call)."""
    from billing.gateway.stripe_gateway import StripeGateway

    return StripeGateway()
