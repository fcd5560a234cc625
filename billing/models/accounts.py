"""Who an organisation's account bills and how: billing contacts, Enterprise Agreements, the credit
account itself (balance, reserved, auto-recharge settings) and its saved cards."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from djmoney.models.fields import CurrencyField

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
