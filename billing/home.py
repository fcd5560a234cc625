from __future__ import annotations

from dataclasses import replace

from django.http import HttpRequest

from billing.selectors import account_summary
from billing.services.alerts import account_alerts
from billing.services.ledger import account_for
from credits_portal.permissions import Capability, role_can
from credits_portal.slots import register


def balance_card(request: HttpRequest) -> dict | None:
    if not role_can(request.membership.role, Capability.BILLING_VIEW):
        return None
    if not request.organisation.holds_credits:
        return None  # no balance to show: usage's overage card takes its place
    account = account_for(request.organisation)
    return {"template": "billing/_home_card.html", "context": {"summary": account_summary(account)}}


def credit_alerts(request: HttpRequest) -> dict | None:
    """The credit account's alerts for the roles that see billing; the action only for those
    who may take it."""
    role = request.membership.role
    if not role_can(role, Capability.BILLING_VIEW):
        return None
    alerts = account_alerts(account_for(request.organisation))
    if not role_can(role, Capability.BILLING_MANAGE):
        alerts = [replace(alert, action="") for alert in alerts]
    return (
        {"template": "portal/_alert_items.html", "context": {"alerts": alerts}} if alerts else None
    )


register("home", balance_card)
register("alerts", credit_alerts)
