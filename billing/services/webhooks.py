"""Stripe events: each handled once by id, by re-reading the object from Stripe."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from billing import gateway
from billing.models import StripeEvent
from billing.services import cards, recharge

PAYMENT_EVENTS = {"payment_intent.succeeded", "payment_intent.payment_failed"}


def event_handle(event) -> bool:
    """Act on a verified event; False when it was seen before. Handlers are idempotent, so an
    event whose handling failed halfway is simply handled again when Stripe retries it."""
    if StripeEvent.objects.filter(event_id=event.id).exists():
        return False
    if event.type in PAYMENT_EVENTS:
        sent = event.data.object
        metadata = cards.plain(sent.metadata)
        if metadata.get("recharge"):
            attempt = recharge.attempt_for_intent(sent.id, metadata)
            if attempt is not None:
                # Re-read from Stripe: the event's copy is only a hint.
                intent = gateway.client().v1.payment_intents.retrieve(sent.id)
                recharge.recharge_apply(attempt, intent)
        else:
            payment = cards.payment_for_intent(sent.id, metadata)
            if payment is not None:
                cards.payment_reconcile(payment=payment)
    try:
        with transaction.atomic():
            StripeEvent.objects.create(event_id=event.id, type=event.type)
    except IntegrityError:
        return False
    return True
