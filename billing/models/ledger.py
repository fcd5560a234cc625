"""The money itself: fund lots, the append-only ledger of every change to a balance, and the
reservations authorized calls hold until their records come."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from billing.models.accounts import AMOUNT, CreditAccount
from billing.models.invoices import Invoice


class FundLot(models.Model):
    """Funds from one purchase, recharge or grant; drawn first in, first out; 12 months."""

    class Source(models.TextChoices):
        CARD = "card", "Card purchase"
        AGREEMENT = "agreement", "Enterprise Agreement purchase"
        RECHARGE = "recharge", "Auto-recharge"
        GRANT = "grant", "Granted by an operator"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="lots")
    source = models.CharField(max_length=10, choices=Source.choices)
    amount = models.DecimalField(**AMOUNT)
    remaining = models.DecimalField(**AMOUNT)
    purchased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    expired_at = models.DateTimeField(null=True, blank=True)
    reference = models.CharField(max_length=200)
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="lots"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expiry_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["purchased_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "reference"], name="lot_reference_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="lot_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0, remaining__lte=F("amount")),
                name="lot_remaining_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("purchased_at")), name="lot_expires_after_purchase"
            ),
            models.CheckConstraint(
                condition=Q(expired_at__isnull=True) | Q(remaining=0),
                name="lot_expired_is_empty",
            ),
        ]
        indexes = [
            # First in, first out: the account's lots that still hold funds, oldest first.
            models.Index(
                fields=["account", "purchased_at", "id"],
                condition=Q(remaining__gt=0, expired_at__isnull=True),
                name="lot_fifo",
            ),
            # The expiry sweep: lots not yet expired, by expiry time.
            models.Index(
                fields=["expires_at"], condition=Q(expired_at__isnull=True), name="lot_expiry_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} of {self.amount} ({self.purchased_at:%Y-%m-%d})"


class LedgerEntry(models.Model):
    """One signed movement of an account's money. Never updated or deleted (a trigger enforces it).

    Entries with a lot move that lot's funds (a lot's `remaining` is the sum of its entries);
    entries without one are debt: usage no lot could cover, and its settlement by a purchase.
    """

    class Kind(models.TextChoices):
        PURCHASE = "purchase", "Purchase"
        RECHARGE = "recharge", "Auto-recharge"
        USAGE = "usage", "Usage"
        EXPIRY = "expiry", "Expiry"
        ADJUSTMENT = "adjustment", "Adjustment"
        REFUND = "refund", "Refund"

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.DecimalField(**AMOUNT)
    lot = models.ForeignKey(
        FundLot, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    balance_after = models.DecimalField(**AMOUNT)
    reference = models.CharField(max_length=200)
    seq = models.PositiveSmallIntegerField(default=0)
    description = models.CharField(max_length=200, blank=True)
    actor = models.CharField(max_length=254, blank=True, help_text="Who caused it, if a person.")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "reference", "seq"], name="ledger_reference_unique"
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_not_zero"),
            models.CheckConstraint(condition=~Q(reference=""), name="ledger_has_cause"),
        ]
        indexes = [
            models.Index(fields=["account", "-id"], name="ledger_account_recent"),
            models.Index(fields=["account", "kind", "-id"], name="ledger_account_kind"),
            models.Index(fields=["lot"], name="ledger_lot"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.reference})"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("Ledger entries are append-only; post a reversing entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are append-only; post a reversing entry instead.")


class Reservation(models.Model):
    """Funds held for a credit-funded call until its usage record settles it or it expires."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        SETTLED = "settled", "Settled by its usage record"
        RELEASED = "released", "Released unused"

    code = models.CharField(max_length=40, unique=True)
    account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="reservations"
    )
    amount = models.DecimalField(**AMOUNT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="reservation_amount_positive"),
        ]
        indexes = [
            models.Index(
                fields=["account", "expires_at"],
                condition=Q(status="open"),
                name="reservation_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.amount} ({self.status})"
