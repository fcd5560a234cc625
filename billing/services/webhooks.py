"""Stripe events: each handled once by id, by re-reading the object from Stripe."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from billing.models import StripeEvent
from billing.services import cards

PAYMENT_EVENTS = {"payment_intent.succeeded", "payment_intent.payment_failed"}


def event_handle(event) -> bool:
    """Act on a verified event; False when it was seen before. Handlers are idempotent, so an
    event whose handling failed halfway is simply handled again when Stripe retries it."""
    if StripeEvent.objects.filter(event_id=event.id).exists():
        return False
    if event.type in PAYMENT_EVENTS:
        intent = event.data.object
        payment = cards.payment_for_intent(intent.id, cards.plain(intent.metadata))
        if payment is not None:
            cards.payment_reconcile(payment=payment)
    try:
        with transaction.atomic():
            StripeEvent.objects.create(event_id=event.id, type=event.type)
    except IntegrityError:
        return False
    return True
