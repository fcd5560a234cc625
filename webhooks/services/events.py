"""Events that services announce (`credits_portal.events.publish`), as the webhooks app keeps
them: `event_record` receives `event_published` after the announcing transaction commits and
stores one event per (organisation, key), with one delivery per enabled endpoint subscribed to
its type, each queued after its own commit."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from credits_portal.celery import enqueue_on_commit
from credits_portal.events import TYPES
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent


def deliveries_queue(deliveries: list[WebhookDelivery]) -> None:
    """A task for each delivery, once the current transaction commits."""
    from webhooks import tasks

    for delivery in deliveries:
        enqueue_on_commit(tasks.deliver_webhook, delivery.pk)


def event_record(*, organisation_id: int, type: str, key: str, data: dict) -> WebhookEvent | None:
    """The event, once per (organisation, key), and a delivery to each enabled endpoint that
    wants its type, queued after the commit. None when the key was recorded already (nothing
    more is queued) or the organisation is gone."""
    if type not in TYPES:
        raise ValueError(f"unknown event type {type!r}")
    endpoints = list(
        WebhookEndpoint.objects.filter(
            organisation_id=organisation_id,
            status=WebhookEndpoint.Status.ENABLED,
            events__contains=[type],
        )
    )
    now = timezone.now()
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                organisation_id=organisation_id, type=type, key=key, data=data, created_at=now
            )
            deliveries = WebhookDelivery.objects.bulk_create(
                WebhookDelivery(
                    endpoint=e, event=event, next_attempt_at=now, queued_at=now, created_at=now
                )
                for e in endpoints
            )
            deliveries_queue(deliveries)
    except IntegrityError:
        # The key was announced before (a retried task): the first announcement's event stands.
        # (Or the organisation was deleted meanwhile; either way there is nothing to send.)
        return None
    return event
