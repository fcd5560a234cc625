"""Billing › Communications Credits: balance, lots, ledger history, and adding funds."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.exceptions import BillingError, NoCredits
from billing.forms import AddFundsForm, AutoRechargeConfirmForm, AutoRechargeForm, LedgerFilterForm
from billing.money import format_money
from billing.selectors import account_summary, ledger_entries
from billing.services import cards
from billing.services.purchases import agreement_purchase
from billing.services.recharge import recharge_due
from billing.services.recharge_settings import (
    ChargeChanged,
    Preview,
    auto_recharge_save,
    recharge_preview,
)
from billing.views.shortcuts import account_for_request
from credits_portal.audit import audit
from credits_portal.keyset import Order, keyset_page
from credits_portal.permissions import Capability
from credits_portal.slots import render_slot
from credits_portal.tenancy import require_capability

LEDGER_PAGE_SIZE = 25
# The history newest first by id alone: ids only grow, and (account, -id) / (account, kind, -id)
# serve every page, so no page counts the entries or skips those before it.
LEDGER_ORDER = Order(field="id", descending=True, name="ledger")


def recharge_terms() -> dict[str, object]:
    """What the auto-recharge help text states, from the settings that decide it."""
    hours = [str(h) for h in settings.RECHARGE_RETRY_HOURS]
    retry = ", ".join(hours[:-1]) + " and " + hours[-1] if len(hours) > 1 else hours[0]
    retry += " hour" if hours == ["1"] else " hours"
    return {
        "max_per_day": settings.RECHARGE_MAX_PER_DAY,
        "retry_hours": retry,
        "max_failures": settings.RECHARGE_MAX_FAILURES,
    }


@require_GET
@require_capability(Capability.BILLING_VIEW)
def credits(request: HttpRequest) -> HttpResponse:
    account = account_for_request(request)
    filters = LedgerFilterForm(request.GET or None)
    kind = filters.cleaned_data["kind"] if filters.is_valid() else None
    page = keyset_page(
        ledger_entries(account, kind), LEDGER_ORDER, request.GET.get("cursor"), LEDGER_PAGE_SIZE
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
            **recharge_terms(),
            "panels": render_slot("credits", request),
            "alerts": render_slot("alerts", request),
        },
    )


def _refuse_new_commerce(request: HttpRequest, account) -> HttpResponse | None:
    if not account.organisation.holds_credits:
        messages.error(request, NoCredits.MESSAGE)
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
    """Save the settings, unless saving charges now: then the confirmation page asks first."""
    account = account_for_request(request)
    form = AutoRechargeForm(request.POST)
    # The planner's Apply sets amounts nobody typed: it shows them first even when nothing is
    # charged now (leaving this out only skips a question the save would not need).
    review = bool(request.POST.get("review"))
    return _recharge_settings_post(request, account, form, token=None, review=review)


@require_POST
@require_capability(Capability.BILLING_MANAGE)
def auto_recharge_confirm(request: HttpRequest) -> HttpResponse:
    """The confirmation page's answer: saved (and the recharge queued) only if it confirms the
    exact charge that saving makes now; anything else is asked again, nothing charged."""
    account = account_for_request(request)
    form = AutoRechargeConfirmForm(request.POST)
    token = form.data.get("confirmation", "")
    return _recharge_settings_post(request, account, form, token=token, review=False)


def _recharge_settings_post(
    request: HttpRequest, account, form: AutoRechargeForm, *, token: str | None, review: bool
) -> HttpResponse:
    if form.is_valid():
        settings_in = {key: form.cleaned_data[key] for key in AutoRechargeForm.base_fields}
        before = _recharge_settings(account)
        try:
            preview = recharge_preview(account=account, **settings_in)
            charges = preview.amount_now is not None
            if review or (charges and not _confirmed(request, account, preview, token)):
                return _ask(request, account, preview, changed=_signed(token))
            saved, charge = auto_recharge_save(account=account, expected=preview, **settings_in)
        except ChargeChanged as exc:
            return _ask(request, account, exc.preview, changed=True)
        except BillingError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            after = _recharge_settings(saved)
            if charge.amount_now is not None:
                after["charge_now"] = charge.amount_now
            audit(request, "auto_recharge.changed", before=before, after=after)
            messages.success(request, _saved_message(charge))
            return redirect("billing:credits")
    return render(
        request,
        "billing/auto_recharge_form.html",
        {"form": form, "account": account, **recharge_terms()},
    )


def _saved_message(charge: Preview) -> str:
    if not charge.enabled:
        return "Auto-recharge is off."
    if charge.amount_now is None:
        return "Auto-recharge is on."
    return (
        f"Auto-recharge is on. A recharge of {format_money(charge.amount_now, charge.currency)} "
        f"on {charge.method_label} is queued; it appears under Recharges when it is done."
    )


# The confirmation is signed over what the page showed (the settings, the charge and the method),
# for this account and this person, so only the page's own answer, unchanged, saves a charge.
CONFIRM_SALT = "billing.auto_recharge.confirm"
CONFIRM_MAX_AGE = 30 * 60


def _confirmation_of(request: HttpRequest, account, preview: Preview) -> list[str]:
    def exact(amount: Decimal | None) -> str:
        # One spelling per amount, whatever precision the row or the form gave it.
        return "" if amount is None else str(amount.quantize(Decimal("0.0001")))

    return [
        str(account.pk),
        str(request.user.pk),
        exact(preview.trigger),
        exact(preview.amount),
        exact(preview.amount_now),
        preview.method_label,
    ]


def _confirmed(request: HttpRequest, account, preview: Preview, token: str | None) -> bool:
    if not token:
        return False
    try:
        shown = signing.loads(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
    except signing.BadSignature:
        return False
    return shown == _confirmation_of(request, account, preview)


def _signed(token: str | None) -> bool:
    """A real confirmation, for other settings or an older amount (rather than none or forged)."""
    if not token:
        return False
    try:
        signing.loads(token, salt=CONFIRM_SALT)
    except signing.BadSignature:
        return False
    return True


def _money(amount, currency: str) -> str:
    return "" if amount is None else format_money(amount, currency)


def _ask(request: HttpRequest, account, preview: Preview, *, changed: bool) -> HttpResponse:
    currency = preview.currency
    return render(
        request,
        "billing/auto_recharge_confirm.html",
        {
            "account": account,
            "preview": preview,
            "changed": changed,
            "amount_now": _money(preview.amount_now, currency),
            "gap": _money(
                None if preview.amount_now is None else preview.amount_now - preview.amount,
                currency,
            ),
            "max_amount": format_money(settings.PURCHASE_MAX_AMOUNT, currency),
            **recharge_terms(),
            "confirmation": signing.dumps(
                _confirmation_of(request, account, preview), salt=CONFIRM_SALT
            ),
        },
    )


def _recharge_settings(account) -> dict:
    return {
        "enabled": account.auto_recharge_enabled,
        "trigger_amount": account.recharge_trigger,
        "recharge_amount": account.recharge_amount,
    }
