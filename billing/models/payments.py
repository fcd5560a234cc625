"""Money taken from outside: card payments, auto-recharge attempts, charges for invoices and
the Stripe events already handled."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from billing.models.accounts import AMOUNT, CreditAccount, EnterpriseAgreement
from billing.models.invoices import Invoice
from billing.models.ledger import FundLot


class Payment(models.Model):
    """A card purchase from the portal, from the form to the funds, in whatever order."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the card"
        CHARGING = "charging", "Charging the card"
        REQUIRES_ACTION = "action", "Waiting for authentication"
        SUCCEEDED = "succeeded", "Paid"
        FAILED = "failed", "Failed"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(**AMOUNT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    form_token = models.UUIDField(
        help_text="From the form that started it: a resubmit is the same payment."
    )
    stripe_setup_intent_id = models.CharField(max_length=255, blank=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    failure_code = models.CharField(max_length=100, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    lot = models.OneToOneField(
        FundLot, null=True, blank=True, on_delete=models.PROTECT, related_name="payment"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "form_token"], name="payment_form_once"),
            models.UniqueConstraint(
                fields=["stripe_payment_intent_id"],
                condition=~Q(stripe_payment_intent_id=""),
                name="payment_intent_unique",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | Q(lot__isnull=False),
                name="payment_succeeded_has_lot",
            ),
        ]

    def __str__(self) -> str:
        return f"Payment {self.code} ({self.status})"


class RechargeAttempt(models.Model):
    """One auto-recharge, written before the gateway is called; its code is the idempotency key."""

    class Status(models.TextChoices):
        PENDING = "pending", "Starting"
        CHARGING = "charging", "Charging"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    IN_FLIGHT = (Status.PENDING, Status.CHARGING)

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="recharges")
    method = models.CharField(max_length=10, choices=CreditAccount.RechargeMethod.choices)
    amount = models.DecimalField(**AMOUNT)
    balance_before = models.DecimalField(**AMOUNT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    failure_code = models.CharField(max_length=100, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    hard_decline = models.BooleanField(default=False)
    note = models.CharField(
        max_length=200, blank=True, help_text="E.g. that the amount was capped at the maximum."
    )
    lot = models.OneToOneField(
        FundLot, null=True, blank=True, on_delete=models.PROTECT, related_name="recharge"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker holds the attempt until then; others leave it."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one recharge in flight per account: the database says so, not a hope.
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status__in=["pending", "charging"]),
                name="one_recharge_in_flight",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="recharge_amount_positive"),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | Q(lot__isnull=False),
                name="recharge_succeeded_has_lot",
            ),
        ]
        indexes = [models.Index(fields=["account", "-created_at"], name="recharge_recent")]

    def __str__(self) -> str:
        return f"Recharge {self.code} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"recharge-{self.code}"


class Charge(models.Model):
    """Something other than credits paid for (seats): charged off-session on the saved card, or
    invoiced on a registered agreement; written before the gateway is called, once per cause.

    `reference` is the cause (an Idempotency-Key, a form token, a renewal); its code is the
    gateway's idempotency key, so a retry after a crash finds the same payment.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Starting"
        CHARGING = "charging", "Charging the card"
        SUCCEEDED = "succeeded", "Paid or invoiced"
        FAILED = "failed", "Failed"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="charges")
    reference = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Invoice.Kind.choices)
    amount = models.DecimalField(**AMOUNT)
    description = models.CharField(max_length=200)
    method = models.CharField(max_length=10, choices=CreditAccount.RechargeMethod.choices)
    agreement = models.ForeignKey(
        EnterpriseAgreement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    failure_code = models.CharField(max_length=100, blank=True)
    failure_message = models.CharField(max_length=500, blank=True)
    invoice = models.OneToOneField(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="charge"
    )
    actor = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "reference"], name="charge_once_per_cause"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="charge_amount_positive"),
            models.CheckConstraint(
                condition=~Q(status="succeeded") | Q(invoice__isnull=False),
                name="charge_succeeded_has_invoice",
            ),
            models.CheckConstraint(
                condition=Q(method="card") | Q(agreement__isnull=False),
                name="charge_agreement_names_agreement",
            ),
        ]

    def __str__(self) -> str:
        return f"Charge {self.code} {self.amount} ({self.status})"


class StripeEvent(models.Model):
    """Each webhook event is handled once: its id is unique."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
