"""Outbound webhooks: an organisation's endpoints, the events they are sent, and each delivery.

An event is stored once per (organisation, key), so an occurrence announced twice (a retried
task) is one event with one id; each enabled endpoint subscribed to its type gets one delivery,
retried with back-off for a day (`webhooks.services.delivery`). Nothing here is money: endpoints,
events and deliveries may be deleted.
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from credits_portal.events import TYPES
from credits_portal.models import Organisation, User

# Sent only by "Send test event", to the one endpoint it was pressed for.
TEST_TYPE = "webhook.test"
EVENT_TYPES = (*TYPES, TEST_TYPE)


class WebhookEndpoint(models.Model):
    class Status(models.TextChoices):
        ENABLED = "enabled", "Enabled"
        DISABLED = "disabled", "Disabled"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.CharField(max_length=2000)
    events = ArrayField(models.CharField(max_length=40))
    # The signing key: needed in clear to sign, shown once when the endpoint is made and never
    # again (no form, page, API answer or admin shows it).
    secret = models.CharField(max_length=100, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ENABLED)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    failure_streak = models.PositiveIntegerField(
        default=0, help_text="Failed attempts since the last successful one."
    )
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["enabled", "disabled"]), name="webhook_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(events__len__gte=1) & Q(events__contained_by=list(TYPES)),
                name="webhook_events_known",
            ),
            models.CheckConstraint(
                condition=Q(url__startswith="http://") | Q(url__startswith="https://"),
                name="webhook_url_http",
            ),
        ]

    def __str__(self) -> str:
        return self.url

    @property
    def enabled(self) -> bool:
        return self.status == self.Status.ENABLED


class WebhookEvent(models.Model):
    """What happened, once per (organisation, key); `code` is the id receivers deduplicate by."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=40)
    key = models.TextField()
    data = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="webhook_event_once"),
            models.CheckConstraint(
                condition=Q(type__in=list(EVENT_TYPES)), name="webhook_event_type_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.public_id}"

    @property
    def public_id(self) -> str:
        return f"evt_{self.code.hex}"


class WebhookDelivery(models.Model):
    """One event to one endpoint: attempted until it succeeds or a day has passed."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker holds the delivery until then; others leave it."
    )
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When a task for it was last queued (the sweep waits)."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "succeeded", "failed"]),
                name="webhook_delivery_status_valid",
            ),
            # Pending deliveries, and only they, have a next attempt.
            models.CheckConstraint(
                condition=Q(status="pending", next_attempt_at__isnull=False)
                | (~Q(status="pending") & Q(next_attempt_at__isnull=True)),
                name="webhook_delivery_next_attempt",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="webhook_delivery_due",
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint} ({self.status})"
