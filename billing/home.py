from __future__ import annotations

from django.http import HttpRequest

from billing.selectors import account_summary
from billing.services.ledger import account_for
from credits_portal.permissions import Capability, role_can
from credits_portal.slots import register


def balance_card(request: HttpRequest) -> dict | None:
    if not role_can(request.membership.role, Capability.BILLING_VIEW):
        return None
    account = account_for(request.organisation)
    return {"template": "billing/_home_card.html", "context": {"summary": account_summary(account)}}


register("home", balance_card)
