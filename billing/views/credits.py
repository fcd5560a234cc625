"""Billing › Communications Credits: balance, lots, ledger history, and adding funds."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.exceptions import BillingError
from billing.forms import AddFundsForm, AutoRechargeForm, LedgerFilterForm
from billing.money import format_money
from billing.selectors import account_summary, ledger_entries
from billing.services import cards
from billing.services.purchases import agreement_purchase
from billing.services.recharge import auto_recharge_configure, recharge_due
from billing.views.shortcuts import account_for_request
from credits_portal.audit import audit
from credits_portal.models import Organisation
from credits_portal.permissions import Capability
from credits_portal.slots import render_slot
from credits_portal.tenancy import require_capability

LEDGER_PAGE_SIZE = 25


@require_GET
@require_capability(Capability.BILLING_VIEW)
def credits(request: HttpRequest) -> HttpResponse:
    account = account_for_request(request)
    filters = LedgerFilterForm(request.GET or None)
    kind = filters.cleaned_data["kind"] if filters.is_valid() else None
    page = Paginator(ledger_entries(account, kind), LEDGER_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "billing/credits.html",
        {
            "summary": account_summary(account),
            "account": account,
            "entries": page,
            "filters": filters,
            "kind": kind or "",
            "new_commerce": account.organisation.commerce == Organisation.Commerce.NEW,
            "card": cards.card_current(account),
            "recharge_form": AutoRechargeForm(
                initial={
                    "enabled": account.auto_recharge_enabled,
                    "trigger_amount": account.recharge_trigger,
                    "recharge_amount": account.recharge_amount,
                }
            ),
            "recharge_state": recharge_due(account),
            "recharges": account.recharges.select_related("lot__invoice")[:20],
            "max_per_day": settings.RECHARGE_MAX_PER_DAY,
            "panels": render_slot("credits", request),
        },
    )


def _refuse_new_commerce(request: HttpRequest, account) -> HttpResponse | None:
    if account.organisation.commerce == Organisation.Commerce.NEW:
        messages.error(
            request,
            "New-commerce organisations cannot buy credits: their overage is billed after use.",
        )
        return redirect("billing:credits")
    return None


@require_http_methods(["GET", "POST"])
@require_capability(Capability.BILLING_MANAGE)
def add_funds(request: HttpRequest) -> HttpResponse:
    account = account_for_request(request)
    if refused := _refuse_new_commerce(request, account):
        return refused
    form = AddFundsForm(request.POST or None, account=account)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if form.agreement is not None:
            # Money moves on the next page, after the admin confirms.
            return render(
                request,
                "billing/agreement_confirm.html",
                {
                    "form": form,
                    "agreement": form.agreement,
                    "amount": format_money(data["amount"], str(account.currency)),
                },
            )
        try:
            payment = cards.payment_start(
                account=account,
                amount=data["amount"],
                form_token=data["form_token"],
                actor=request.user,
            )
        except BillingError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            audit(
                request,
                "funds.card_payment_started",
                str(payment.code),
                after={"amount": payment.amount},
            )
            return redirect("billing:payment", code=payment.code)
    return render(request, "billing/add_funds.html", {"form": form, "account": account})


@require_POST
@require_capability(Capability.BILLING_MANAGE)
def add_funds_agreement(request: HttpRequest) -> HttpResponse:
    account = account_for_request(request)
    if refused := _refuse_new_commerce(request, account):
        return refused
    form = AddFundsForm(request.POST, account=account)
    if not form.is_valid() or form.agreement is None:
        return render(request, "billing/add_funds.html", {"form": form, "account": account})
    data = form.cleaned_data
    try:
        lot = agreement_purchase(
            account=account,
            agreement=form.agreement,
            amount=data["amount"],
            po_number=data["po_number"],
            reference=f"form:{data['form_token']}",
            actor=request.user.email,
        )
    except BillingError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return render(request, "billing/add_funds.html", {"form": form, "account": account})
    audit(
        request,
        "funds.added_by_agreement",
        form.agreement.number,
        after={
            "amount": lot.amount,
            "po_number": data["po_number"],
            "invoice": lot.invoice.display_number,
        },
    )
    messages.success(
        request,
        f"{format_money(lot.amount, str(account.currency))} added on {form.agreement}; "
        f"invoice {lot.invoice.display_number} is due {lot.invoice.due_date:%Y-%m-%d}.",
    )
    return redirect("billing:credits")


@require_POST
@require_capability(Capability.BILLING_MANAGE)
def auto_recharge(request: HttpRequest) -> HttpResponse:
    account = account_for_request(request)
    form = AutoRechargeForm(request.POST)
    if form.is_valid():
        before = _recharge_settings(account)
        try:
            changed = auto_recharge_configure(account=account, **form.cleaned_data)
        except BillingError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            audit(
                request, "auto_recharge.changed", before=before, after=_recharge_settings(changed)
            )
            messages.success(
                request,
                "Auto-recharge is on." if form.cleaned_data["enabled"] else "Auto-recharge is off.",
            )
            return redirect("billing:credits")
    return render(
        request,
        "billing/auto_recharge_form.html",
        {"form": form, "account": account, "max_per_day": settings.RECHARGE_MAX_PER_DAY},
    )


def _recharge_settings(account) -> dict:
    return {
        "enabled": account.auto_recharge_enabled,
        "trigger_amount": account.recharge_trigger,
        "recharge_amount": account.recharge_amount,
    }
