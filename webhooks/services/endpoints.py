"""Webhook endpoints: what an admin saves on Settings › Webhooks or with `POST /api/v1/webhooks`
(one door for both: `endpoint_create` checks the URL (`guard`) and the event types together and
returns the secret once), removes, enables again, and sends a test event to."""

from __future__ import annotations

import secrets
import uuid

from django.db import transaction
from django.utils import timezone

from credits_portal.events import TYPES
from credits_portal.models import Organisation, User
from webhooks.exceptions import WebhookError
from webhooks.guard import Refused, url_check
from webhooks.models import TEST_TYPE, WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.services.events import deliveries_queue

MAX_ENDPOINTS = 20  # per organisation: each event is one request per endpoint
SECRET_PREFIX = "whsec_"


def events_clean(events: object) -> list[str]:
    """The event types asked for, each known, in the catalogue's order; WebhookError otherwise."""
    if not isinstance(events, list | tuple) or not all(isinstance(e, str) for e in events):
        raise WebhookError("A list of event type names.", field="events")
    unknown = [e for e in events if e not in TYPES]
    if unknown:
        shown = ", ".join(repr(e[:50]) for e in unknown[:5])
        raise WebhookError(
            f"Unknown event type {shown}; the types are {', '.join(TYPES)}.", field="events"
        )
    if not events:
        raise WebhookError("Choose at least one event.", field="events")
    return [t for t in TYPES if t in events]


def endpoint_create(
    *, organisation: Organisation, url: str, events: list[str], created_by: User | None = None
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret, which is shown once (the caller's response) and
    never again. Every invalid field is named (`errors`), not only the first."""
    errors: dict[str, list[str]] = {}
    if not isinstance(url, str):
        errors["url"] = ["A URL, as a string."]
    else:
        try:
            url_check(url)
        except Refused as exc:
            errors["url"] = [str(exc)]
    try:
        events = events_clean(events)
    except WebhookError as exc:
        errors["events"] = [exc.message]
    if errors:
        field, messages = next(iter(errors.items()))
        raise WebhookError(f"{field}: {messages[0]}", field=field, errors=errors)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        # The organisation's row orders concurrent creations, so the limit holds.
        Organisation.objects.select_for_update().get(pk=organisation.pk)
        if WebhookEndpoint.objects.filter(organisation=organisation).count() >= MAX_ENDPOINTS:
            raise WebhookError(
                f"At most {MAX_ENDPOINTS} webhook endpoints; remove one first.",
                field="url",
                conflict=True,
            )
        endpoint = WebhookEndpoint.objects.create(
            organisation=organisation,
            url=url,
            events=events,
            secret=secret,
            created_by=created_by,
        )
    return endpoint, secret


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Remove the endpoint and its delivery log; deleting twice is quiet."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()


def endpoint_enable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Deliver to a disabled endpoint again, from the next event on (what failed stays failed).
    Enabling an enabled endpoint changes nothing."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk, status=WebhookEndpoint.Status.DISABLED).update(
        status=WebhookEndpoint.Status.ENABLED,
        disabled_at=None,
        disabled_reason="",
        failure_streak=0,
    )
    endpoint.refresh_from_db()
    return endpoint


def endpoint_send_test_event(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A `webhook.test` event to this endpoint alone, delivered and logged as any other."""
    if not endpoint.enabled:
        raise WebhookError("The endpoint is disabled: enable it first.", conflict=True)
    now = timezone.now()
    with transaction.atomic():
        event = WebhookEvent.objects.create(
            organisation_id=endpoint.organisation_id,
            type=TEST_TYPE,
            key=f"{TEST_TYPE}:{uuid.uuid4()}",
            data={"message": "A test event from Settings › Webhooks.", "endpoint": endpoint.url},
            created_at=now,
        )
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event=event, next_attempt_at=now, queued_at=now, created_at=now
        )
        deliveries_queue([delivery])
    return delivery
