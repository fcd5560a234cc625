"""Billing: who is told about money (billing contacts); the ledger follows in this app."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from credits_portal.models import Organisation


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
