"""Billing: the credit account, fund lots, the append-only ledger, payments and invoices.

The invariants of DESIGN.md "The ledger" are held by PostgreSQL where it can (check constraints,
unique references, PROTECT foreign keys, a trigger that refuses UPDATE and DELETE on ledger
entries) and checked as a whole by `billing.services.ledger.ledger_verify`.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from djmoney.models.fields import CurrencyField

# Settings › Alerts live in their own module; imported here for the app registry.
from billing.alert_models import AlertKind, BalanceAlert, BalanceAlertSent  # noqa: F401
from credits_portal.models import Organisation

AMOUNT = {"max_digits": 18, "decimal_places": 4}


class BillingContact(models.Model):
    """Receives the recharge, decline, zero-balance and expiry emails of its organisation."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="billing_contacts"
    )
    email = models.EmailField()
    name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(
                "organisation", Lower("email"), name="billing_contact_email_unique_per_org"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


class EnterpriseAgreement(models.Model):
    """A volume-licensing agreement that purchases are invoiced against instead of charged.

    Only an operator makes one `active`, with a credit limit: the due invoices on it plus a new
    purchase never pass that limit. An admin's request is a `requested` row that pays for nothing.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested, waiting for approval"
        ACTIVE = "active", "Active"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="enterprise_agreements"
    )
    number = models.CharField(max_length=40)
    name = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.REQUESTED, db_index=True
    )
    credit_limit = models.DecimalField(
        **AMOUNT,
        null=True,
        blank=True,
        help_text="Due invoices on the agreement plus a new purchase may not pass this.",
    )
    payment_terms_days = models.PositiveSmallIntegerField(default=30)
    created_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "number"],
                condition=Q(removed_at__isnull=True),
                name="agreement_number_unique_per_org",
            ),
            models.CheckConstraint(
                condition=Q(payment_terms_days__lte=120), name="agreement_terms_at_most_120_days"
            ),
            models.CheckConstraint(
                condition=Q(credit_limit__isnull=True) | Q(credit_limit__gt=0),
                name="agreement_credit_limit_positive",
            ),
            models.CheckConstraint(
                condition=~Q(status="active")
                | Q(credit_limit__isnull=False, approved_at__isnull=False),
                name="agreement_active_has_limit",
            ),
        ]

    def __str__(self) -> str:
        return f"Enterprise Agreement {self.number}" + (f" ({self.name})" if self.name else "")

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE and self.removed_at is None


class CreditAccount(models.Model):
    """One per organisation: the cached balance and how recharges are paid."""

    class RechargeMethod(models.TextChoices):
        CARD = "card", "Saved card"
        AGREEMENT = "agreement", "Enterprise Agreement"

    organisation = models.OneToOneField(
        Organisation, on_delete=models.PROTECT, related_name="credit_account"
    )
    currency = CurrencyField()
    balance = models.DecimalField(**AMOUNT, default=0)
    debt = models.DecimalField(
        **AMOUNT, default=0, help_text="Usage the lots could not cover; the next purchase pays it."
    )
    reserved = models.DecimalField(
        **AMOUNT, default=0, help_text="Held by open reservations of credit-funded calls."
    )
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    auto_recharge_enabled = models.BooleanField(default=False)
    recharge_trigger = models.DecimalField(
        **AMOUNT, null=True, blank=True, help_text="Recharge when the balance falls below this."
    )
    recharge_amount = models.DecimalField(
        **AMOUNT, null=True, blank=True, help_text="Added by each recharge."
    )
    recharge_method = models.CharField(
        max_length=10, choices=RechargeMethod.choices, default=RechargeMethod.CARD
    )
    recharge_agreement = models.ForeignKey(
        EnterpriseAgreement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set after repeated or hard declines; cleared when the admin saves a new card.
    recharge_suspended_at = models.DateTimeField(null=True, blank=True)
    recharge_suspended_reason = models.CharField(max_length=300, blank=True)
    recharge_failures = models.PositiveSmallIntegerField(
        default=0, help_text="Declines in a row since the last successful recharge."
    )
    recharge_retry_after = models.DateTimeField(
        null=True, blank=True, help_text="No new attempt before this (back-off after a decline)."
    )
    recharge_guard_notified_at = models.DateTimeField(null=True, blank=True)
    billing_address = models.TextField(blank=True, help_text="Printed on invoices.")
    next_invoice_number = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(debt__gte=0), name="account_debt_not_negative"),
            models.CheckConstraint(
                condition=Q(reserved__gte=0), name="account_reserved_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(recharge_method="card") | Q(recharge_agreement__isnull=False),
                name="account_agreement_recharge_names_agreement",
            ),
        ]

    def __str__(self) -> str:
        return f"Credit account of {self.organisation}"


class Card(models.Model):
    """A card saved at Stripe for off-session charges; we keep only what identifies it."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="cards")
    stripe_payment_method_id = models.CharField(max_length=255)
    brand = models.CharField(max_length=20)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one card in use per account: a new card replaces the old one.
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(removed_at__isnull=True),
                name="one_card_per_account",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.brand.title()} •••• {self.last4}"

    @property
    def expiry(self) -> str:
        return f"{self.exp_month:02d}/{self.exp_year}"


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
