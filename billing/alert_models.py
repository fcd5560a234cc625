"""Balance alerts (Settings › Alerts): thresholds in money and in days of runway, each with the
state of its episode, and the history of the alerts sent. Imported by `billing.models`.

An episode starts when the balance (or the runway) falls below a threshold: the alert fires
once, `fired_at` records it, and it fires again only after the balance has been back at or above
the threshold (re-armed, `fired_at` cleared). Every change to this state happens under the
account's row lock (billing.services.balance_alerts).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

AMOUNT = {"max_digits": 18, "decimal_places": 4}
RUNWAY_DAYS_MAX = 90  # the planner's longest window


class AlertKind(models.TextChoices):
    LOW_BALANCE = "low_balance", "Low balance"
    RUNWAY = "runway", "Days of runway"


class BalanceAlert(models.Model):
    """One threshold of an account: an amount (low balance) or a number of days (runway)."""

    Kind = AlertKind

    account = models.ForeignKey(
        "billing.CreditAccount", on_delete=models.CASCADE, related_name="balance_alerts"
    )
    kind = models.CharField(max_length=12, choices=AlertKind.choices)
    amount = models.DecimalField(**AMOUNT, null=True, blank=True)
    days = models.PositiveSmallIntegerField(null=True, blank=True)
    # The planner's spend rate (credits a day) as last computed by usage: runway = balance ÷ it.
    daily_spend = models.DecimalField(**AMOUNT, null=True, blank=True)
    daily_spend_at = models.DateTimeField(null=True, blank=True)
    # Set when the alert fired; cleared when the balance (runway) is back at or above it.
    fired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "-amount", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="low_balance", amount__gt=0, days__isnull=True)
                | Q(
                    kind="runway",
                    amount__isnull=True,
                    days__gte=1,
                    days__lte=RUNWAY_DAYS_MAX,
                ),
                name="balance_alert_threshold_fits_kind",
            ),
            models.CheckConstraint(
                condition=Q(daily_spend__isnull=True) | Q(daily_spend__gte=0),
                name="balance_alert_daily_spend_not_negative",
            ),
            models.UniqueConstraint(
                fields=["account", "amount"],
                condition=Q(kind="low_balance"),
                name="balance_alert_amount_unique",
            ),
            models.UniqueConstraint(
                fields=["account"], condition=Q(kind="runway"), name="balance_alert_one_runway"
            ),
        ]

    def __str__(self) -> str:
        if self.kind == AlertKind.RUNWAY:
            return f"Runway below {self.days} days"
        return f"Balance below {self.amount}"


class BalanceAlertSent(models.Model):
    """One alert sent: an episode of one threshold. Kept when the threshold is removed."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(
        "billing.CreditAccount", on_delete=models.PROTECT, related_name="balance_alerts_sent"
    )
    alert = models.ForeignKey(
        BalanceAlert, null=True, blank=True, on_delete=models.SET_NULL, related_name="sent"
    )
    kind = models.CharField(max_length=12, choices=AlertKind.choices)
    amount = models.DecimalField(**AMOUNT, null=True, blank=True)
    days = models.PositiveSmallIntegerField(null=True, blank=True)
    balance = models.DecimalField(**AMOUNT)
    daily_spend = models.DecimalField(**AMOUNT, null=True, blank=True)
    days_left = models.PositiveIntegerField(null=True, blank=True)
    # The event's key: one per episode, so announcing it again is the same event.
    key = models.CharField(max_length=200, unique=True)
    recipients = models.CharField(max_length=1000, blank=True)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "-id"], name="balance_alert_sent_recent")]

    def __str__(self) -> str:
        return self.key
