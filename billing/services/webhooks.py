"""Gateway events: each handled once by id, by re-reading the payment from the gateway.

The event's copy of a payment is only a hint: the payment is read again from the gateway and
handed to the same services the browser and the worker use, which honour it only when it is the
one made for our row (`billing.services.payments.payment_owned`). An event naming no payment,
naming one the gateway does not know, or one we did not make, is logged and recorded, nothing
more.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from billing import gateway
from billing.gateway import EventKind, GatewayEvent
from billing.models import Payment, StripeEvent
from billing.services import cards, payments, recharge

log = logging.getLogger(__name__)


def event_handle(*, event: GatewayEvent) -> bool:
    """Act on a verified event; False when it was seen before. Handlers are idempotent, so an
    event whose handling failed halfway is simply handled again when the gateway retries it.
    `GatewayError` (the gateway unreachable) leaves the event unrecorded, for that retry."""
    if StripeEvent.objects.filter(event_id=event.id).exists():
        return False
    if event.kind == EventKind.PAYMENT:
        _payment_event(event)
    try:
        with transaction.atomic():
            StripeEvent.objects.create(event_id=event.id, type=event.type)
    except IntegrityError:
        return False
    return True


def _payment_event(event: GatewayEvent) -> None:
    if not event.payment_id:
        log.warning("ignored event %s (%s): %s", event.id, event.type, event.problem)
        return
    try:
        answer = gateway.active().payment_retrieve(event.payment_id)
    except gateway.NotFound:
        log.warning("ignored event %s: the gateway has no payment %s", event.id, event.payment_id)
        return
    row = payments.row_for_payment(answer)
    if row is None:
        log.warning("ignored event %s: payment %s is for none of ours", event.id, answer.id)
    elif isinstance(row, Payment):
        cards.payment_apply(payment=row, answer=answer)
    else:
        recharge.recharge_apply(row, answer)
