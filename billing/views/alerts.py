"""Settings › Alerts: the low-balance and runway thresholds, their state, and the alerts sent."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from billing.exceptions import BillingError
from billing.forms import AlertsForm
from billing.models import BalanceAlert
from billing.money import format_money
from billing.services.balance_alerts import (
    HISTORY_SHOWN,
    alert_settings,
    alert_settings_save,
    alerts_sent,
)
from billing.views.shortcuts import account_for_request
from credits_portal.audit import audit
from credits_portal.permissions import Capability
from credits_portal.slots import render_slot
from credits_portal.tenancy import require_capability


def _plain(settings) -> dict:
    return {
        "low_balance": [str(amount) for amount in settings.low_balance],
        "runway_days": settings.runway_days,
    }


@require_http_methods(["GET", "POST"])
@require_capability(Capability.BILLING_MANAGE)
def alerts(request: HttpRequest) -> HttpResponse:
    account = account_for_request(request)
    currency = str(account.currency)
    current = alert_settings(account)
    form = AlertsForm(
        request.POST or None,
        account=account,
        initial={
            # As the portal shows amounts (1,250.00), which the form reads back.
            "low_balance": "\n".join(
                format_money(amount, currency).removesuffix(f" {currency}")
                for amount in current.low_balance
            ),
            "runway_days": current.runway_days,
        },
    )
    if request.method == "POST" and account.organisation.holds_credits and form.is_valid():
        data = form.cleaned_data
        try:
            saved = alert_settings_save(
                account=account, low_balance=data["low_balance"], runway_days=data["runway_days"]
            )
        except BillingError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            audit(request, "alerts.changed", before=_plain(current), after=_plain(saved))
            messages.success(request, "The alerts are saved.")
            return redirect("billing:alerts")
    status = 400 if form.is_bound and form.errors else 200
    return render(
        request,
        "billing/alerts.html",
        {
            "account": account,
            "form": form,
            "thresholds": BalanceAlert.objects.filter(account=account),
            "sent": alerts_sent(account),
            "history_shown": HISTORY_SHOWN,
            "panels": render_slot("runway", request),
        },
        status=status,
    )
