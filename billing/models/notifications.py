"""The billing email outbox."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from billing.models.accounts import CreditAccount


class Notification(models.Model):
    """An email to the billing contacts, written in the transaction that had something to say
    and sent after it commits; the sweep sends what a Redis outage or a dead worker left unsent."""

    account = models.ForeignKey(CreditAccount, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=40)
    context = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                name="billing_notification_unsent",
                condition=Q(sent_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({'sent' if self.sent_at else 'unsent'})"
