"""Delivering events: one signed POST per attempt, retried with exponential back-off for a day.

Each attempt claims its delivery with a lease (a worker that dies leaves it to the sweep after
LEASE), POSTs the event's JSON body with `Webhook-Signature: t=<unix seconds>,v1=<hex
HMAC-SHA256(secret, t + "." + body)>` (`transport.post`: checked address, short timeout, no
redirects), and records the answer. A 2xx answer delivers it. Anything else (another status, a
timeout, a refused address) schedules the next attempt after 1, 2, 4 … minutes, at most 4 hours
apart, for 24 hours after the event: 13 attempts. When a delivery has failed all of them and
nothing reached its endpoint meanwhile (a day of failures), the endpoint is disabled, its other
pending deliveries are failed, and its organisation's billing contacts and global admins are
emailed. The beat sweep (every minute) queues what is due.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from billing.services.notifications import site_url
from credits_portal.celery import enqueue, enqueue_on_commit
from credits_portal.models import Membership
from credits_portal.permissions import Role
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.transport import Answer, post

RETRY_FIRST = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=4)
RETRY_WINDOW = timedelta(hours=24)
LEASE = timedelta(minutes=2)  # longer than an attempt can take (tasks.DELIVERY_TIME_LIMIT)
REQUEUE_AFTER = timedelta(minutes=10)  # a queued task not run by then is queued again
SWEEP_BATCH = 500

Pending = WebhookDelivery.Status.PENDING


def retry_delay(attempts: int) -> timedelta:
    """How long after the `attempts`-th failed attempt the next one comes."""
    return min(RETRY_FIRST * 2 ** (attempts - 1), RETRY_CAP)


def attempt_offsets() -> list[timedelta]:
    """When each attempt comes, after the event, when every one fails on time."""
    offsets = [timedelta(0)]
    while offsets[-1] + retry_delay(len(offsets)) <= RETRY_WINDOW:
        offsets.append(offsets[-1] + retry_delay(len(offsets)))
    return offsets


MAX_ATTEMPTS = len(attempt_offsets())  # 13


def body_of(event: WebhookEvent) -> bytes:
    """The JSON body receivers get: the same bytes on every attempt (only the signature's
    timestamp changes)."""
    created = event.created_at.astimezone(UTC)
    return json.dumps(
        {
            "id": event.public_id,
            "type": event.type,
            "created_at": created.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "data": event.data,
        },
        separators=(",", ":"),
    ).encode()


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The `Webhook-Signature` header's value for `body` sent at `timestamp` (unix seconds)."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _claim(delivery_id: int) -> bool:
    now = timezone.now()
    return bool(
        WebhookDelivery.objects.filter(pk=delivery_id, status=Pending, next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .update(lease_until=now + LEASE)
    )


def delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """One attempt of a due delivery and its recorded result; None when it is not due, another
    worker holds it, or it is gone. No transaction is open while the endpoint is asked."""
    if not _claim(delivery_id):
        return None
    delivery = (
        WebhookDelivery.objects.select_related("endpoint", "event").filter(pk=delivery_id).first()
    )
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        answer = Answer(None, "Not sent: the endpoint is disabled.")
        return _record(delivery_id, answer, attempted=False)
    body = body_of(delivery.event)
    headers = {"Webhook-Signature": signature(endpoint.secret, body, int(time.time()))}
    answer = post(endpoint.url, body, headers, timeout=settings.WEBHOOKS_TIMEOUT)
    return _record(delivery_id, answer, attempted=True)


def _record(delivery_id: int, answer: Answer, *, attempted: bool) -> WebhookDelivery | None:
    now = timezone.now()
    endpoint_id = (
        WebhookDelivery.objects.filter(pk=delivery_id).values_list("endpoint_id", flat=True).first()
    )
    with transaction.atomic():
        # The endpoint first, then the delivery: every writer of both takes them in this order.
        endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("event")
            .filter(pk=delivery_id)
            .first()
        )
        if endpoint is None or delivery is None:
            return None  # removed meanwhile
        if delivery.status != Pending:
            return delivery  # finished meanwhile (the endpoint was disabled)
        delivery.lease_until = None
        delivery.queued_at = None  # the sweep queues the next attempt when it is due
        delivery.error = answer.error[:300]
        if attempted:
            delivery.attempts += 1
            delivery.last_attempt_at = now
            delivery.response_code = answer.status
        if answer.ok:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.next_attempt_at = None
            endpoint.failure_streak = 0
            endpoint.last_success_at = now
        elif not attempted:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            endpoint.failure_streak += 1
            next_at = now + retry_delay(delivery.attempts)
            if next_at <= delivery.created_at + RETRY_WINDOW:
                delivery.next_attempt_at = next_at
            else:
                delivery.status = WebhookDelivery.Status.FAILED
                delivery.next_attempt_at = None
                nothing_since = (
                    endpoint.last_success_at is None
                    or endpoint.last_success_at < delivery.created_at
                )
                if endpoint.enabled and nothing_since:
                    _disable(endpoint, delivery, answer, now)
        delivery.save()
        endpoint.save(
            update_fields=[
                "failure_streak",
                "last_success_at",
                "status",
                "disabled_at",
                "disabled_reason",
            ]
        )
    return delivery


def _disable(endpoint: WebhookEndpoint, delivery: WebhookDelivery, answer: Answer, now) -> None:
    from webhooks import tasks

    last = answer.error or f"HTTP {answer.status}"
    hours = int(RETRY_WINDOW.total_seconds() // 3600)
    endpoint.status = WebhookEndpoint.Status.DISABLED
    endpoint.disabled_at = now
    endpoint.disabled_reason = (
        f"All {delivery.attempts} attempts to deliver {delivery.event.public_id} failed over"
        f" {hours} hours and nothing reached the endpoint meanwhile; the last: {last}"
    )[:300]
    WebhookDelivery.objects.filter(endpoint=endpoint, status=Pending).exclude(
        pk=delivery.pk
    ).update(
        status=WebhookDelivery.Status.FAILED,
        next_attempt_at=None,
        lease_until=None,
        error="Not sent: the endpoint was disabled.",
    )
    enqueue_on_commit(tasks.notify_endpoint_disabled, endpoint.pk)


def deliveries_sweep() -> int:
    """Queue a task for each due delivery no worker holds and none was queued for lately (at
    most SWEEP_BATCH, the most overdue first); how many were queued."""
    from webhooks import tasks

    now = timezone.now()
    due = list(
        WebhookDelivery.objects.filter(status=Pending, next_attempt_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lte=now - REQUEUE_AFTER))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    WebhookDelivery.objects.filter(pk__in=due).update(queued_at=now)
    for pk in due:
        enqueue(tasks.deliver_webhook, pk)
    return len(due)


def _recipients(endpoint: WebhookEndpoint) -> list[str]:
    organisation = endpoint.organisation
    contacts = set(organisation.billing_contacts.values_list("email", flat=True))
    admins = Membership.objects.filter(
        organisation=organisation, role=Role.GLOBAL, user__is_active=True
    ).values_list("user__email", flat=True)
    return sorted(contacts | set(admins))


def endpoint_disabled_notify(*, endpoint_id: int) -> int:
    """Email the billing contacts and global admins that the endpoint was disabled; the number
    of recipients (0 when it is enabled again or gone)."""
    endpoint = WebhookEndpoint.objects.select_related("organisation").filter(pk=endpoint_id).first()
    if endpoint is None or endpoint.enabled:
        return 0
    to = _recipients(endpoint)
    if not to:
        return 0
    context = {
        "organisation": endpoint.organisation.name,
        "url": endpoint.url,
        "reason": endpoint.disabled_reason,
        "attempts": MAX_ATTEMPTS,
        "endpoint_url": site_url("webhooks:endpoint", code=endpoint.code),
    }
    subject = " ".join(
        render_to_string("webhooks/email/endpoint_disabled_subject.txt", context).split()
    )
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("webhooks/email/endpoint_disabled.txt", context),
        to=to,
    )
    message.attach_alternative(
        render_to_string("webhooks/email/endpoint_disabled.html", context), "text/html"
    )
    message.send()
    return len(to)
