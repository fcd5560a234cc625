"""The Stripe client, configured from settings: Stripe itself, or `localstripe` via STRIPE_API_BASE.

Only the fields `localstripe` understands are sent, so the same calls run against both.
"""

from __future__ import annotations

import stripe
from django.conf import settings

GatewayError = stripe.StripeError
CardError = stripe.CardError
ConnectionFailed = stripe.APIConnectionError


def client() -> stripe.StripeClient:
    base = settings.STRIPE_API_BASE
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": base} if base else None,
        max_network_retries=2,
    )


def construct_event(payload: bytes, signature: str) -> stripe.Event:
    """The verified event, or `ValueError` / `stripe.SignatureVerificationError`."""
    return stripe.Webhook.construct_event(payload, signature, settings.STRIPE_WEBHOOK_SECRET)
