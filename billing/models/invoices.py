"""Invoices and their lines: every sale of funds or seats, and overage billed after use."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from djmoney.models.fields import CurrencyField

from billing.models.accounts import AMOUNT, CreditAccount, EnterpriseAgreement


class Invoice(models.Model):
    """Issued once, never changed. Numbered gaplessly per organisation."""

    class Status(models.TextChoices):
        PAID = "paid", "Paid"
        DUE = "due", "Due"
        VOID = "void", "Void"

    class Kind(models.TextChoices):
        PURCHASE = "purchase", "Purchase"
        RECHARGE = "recharge", "Auto-recharge"
        OVERAGE = "overage", "Overage"
        SEATS = "seats", "Seats"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="invoices")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PURCHASE)
    issued_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=4, choices=Status.choices)
    # Set once, when an operator records that a due invoice was paid; nothing else ever changes.
    paid_at = models.DateTimeField(null=True, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    currency = CurrencyField()
    total = models.DecimalField(**AMOUNT)
    payment_description = models.CharField(max_length=200)
    agreement = models.ForeignKey(
        EnterpriseAgreement,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    po_number = models.CharField(max_length=50, blank=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    seller = models.JSONField()
    buyer = models.JSONField()

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["account", "number"], name="invoice_number_unique"),
            models.CheckConstraint(condition=Q(total__gt=0), name="invoice_total_positive"),
            models.CheckConstraint(
                condition=Q(status="paid") | Q(due_date__isnull=False),
                name="invoice_due_has_due_date",
            ),
            models.CheckConstraint(
                condition=Q(status="paid", paid_at__isnull=False)
                | (~Q(status="paid") & Q(paid_at__isnull=True)),
                name="invoice_paid_has_paid_at",
            ),
            models.CheckConstraint(
                condition=Q(period_start__isnull=True, period_end__isnull=True)
                | Q(period_start__isnull=False, period_end__gte=F("period_start")),
                name="invoice_period_in_order",
            ),
        ]
        indexes = [
            # The credit-limit check: the due invoices of one agreement.
            models.Index(
                fields=["agreement"], condition=Q(status="due"), name="invoice_agreement_due"
            ),
        ]

    def __str__(self) -> str:
        return self.display_number

    @property
    def display_number(self) -> str:
        return f"{self.account.organisation.slug.upper()}-{self.number:06d}"

    @property
    def period(self) -> str | None:
        """`2026-10` for a calendar month, else `2026-09-01/2026-10-31`; None without one."""
        start, end = self.period_start, self.period_end
        if start is None or end is None:
            return None
        next_day = end + timedelta(days=1)
        if (
            start.day == 1
            and next_day.day == 1
            and (start.year, start.month) == (end.year, end.month)
        ):
            return f"{start:%Y-%m}"
        return f"{start.isoformat()}/{end.isoformat()}"


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    description = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(default=1)
    unit_amount = models.DecimalField(**AMOUNT)
    amount = models.DecimalField(**AMOUNT)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount=F("unit_amount") * F("quantity")), name="invoice_line_adds_up"
            )
        ]

    def __str__(self) -> str:
        return self.description
