"""The permission matrix: which role may do what. The one place that decides it.

Views declare the capability they need (`@require_capability(Capability.BILLING_MANAGE)`), API
endpoints the same through the key's scope, and templates ask `can.billing_manage`.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    GLOBAL = "global", "Global admin"
    BILLING = "billing", "Billing admin"
    LICENSE = "license", "License admin"
    REPORTS = "reports", "Reports reader"


class Capability(models.TextChoices):
    BILLING_VIEW = "billing_view", "See balance, lots, ledger and invoices"
    BILLING_MANAGE = "billing_manage", "Add funds, auto-recharge, payment methods, billing contacts"
    LICENSES_VIEW = "licenses_view", "See licenses and directory users"
    LICENSES_MANAGE = "licenses_manage", "Assign licenses, import users"
    REPORTS_VIEW = "reports_view", "Read the PSTN and SMS usage report"
    API_KEYS_MANAGE = "api_keys_manage", "Create and revoke API keys"
    AUDIT_VIEW = "audit_view", "Read the audit log"
    WEBHOOKS_MANAGE = "webhooks_manage", "Add and remove webhook endpoints, read their deliveries"


C = Capability
MATRIX: dict[str, frozenset[Capability]] = {
    Role.GLOBAL: frozenset(Capability),
    Role.BILLING: frozenset({C.BILLING_VIEW, C.BILLING_MANAGE, C.REPORTS_VIEW}),
    Role.LICENSE: frozenset({C.LICENSES_VIEW, C.LICENSES_MANAGE}),
    Role.REPORTS: frozenset({C.REPORTS_VIEW}),
}

# An `admin` API key acts as a global admin of its organisation; a `platform` key only reaches the
# call-path endpoints, which check for the platform scope themselves.
API_SCOPE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    "admin": MATRIX[Role.GLOBAL],
    "platform": frozenset(),
}


# What the billing capabilities mean where nothing holds credits (new commerce, DESIGN.md): seats
# and overage are billed, there is no balance to fund.
NEW_COMMERCE_LABELS = {
    C.BILLING_VIEW: "See products, invoices and this month's overage",
    C.BILLING_MANAGE: "Buy and release seats, payment methods, billing contacts",
}


def capability_labels(role: str, *, holds_credits: bool) -> list[str]:
    """What the role may do, in the matrix's order, as the organisation's commerce words it."""
    labels = {} if holds_credits else NEW_COMMERCE_LABELS
    return [labels.get(c, c.label) for c in Capability if c in MATRIX.get(role, frozenset())]


def role_can(role: str | None, capability: Capability) -> bool:
    return role is not None and capability in MATRIX.get(role, frozenset())


class Can:
    """Template helper: `{% if can.billing_manage %}`."""

    def __init__(self, role: str | None) -> None:
        self._role = role

    def __getattr__(self, name: str) -> bool:
        try:
            return role_can(self._role, Capability(name))
        except ValueError:
            raise AttributeError(name) from None
