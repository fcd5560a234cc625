"""Billing › Payment methods: the saved card, Enterprise Agreements, what pays auto-recharge."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing import gateway
from billing.exceptions import BillingError
from billing.forms import AgreementRequestForm, RechargeMethodForm
from billing.models import EnterpriseAgreement
from billing.services import cards
from billing.services.agreements import agreement_request, agreement_unpaid
from billing.services.purchases import agreement_remove
from billing.services.recharge_settings import recharge_card_save, recharge_method_set
from billing.views.shortcuts import account_for_request, get_agreement_for, get_card_for
from credits_portal.audit import audit
from credits_portal.permissions import Capability
from credits_portal.tenancy import require_capability


@require_GET
@require_capability(Capability.BILLING_MANAGE)
def payment_methods(request: HttpRequest) -> HttpResponse:
    account = account_for_request(request)
    agreements = list(
        EnterpriseAgreement.objects.filter(
            organisation=request.organisation, removed_at__isnull=True
        )
    )
    for agreement in agreements:
        agreement.unpaid = agreement_unpaid(agreement) if agreement.is_active else None
    return render(
        request,
        "billing/payment_methods.html",
        {
            "account": account,
            "card": cards.card_current(account),
            "agreements": agreements,
            "method_form": RechargeMethodForm(account=account),
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
@require_capability(Capability.BILLING_MANAGE)
def card_replace(request: HttpRequest) -> HttpResponse:
    account = account_for_request(request)
    if request.method == "POST":
        try:
            card = recharge_card_save(
                account=account, setup_intent_id=request.POST.get("setup_intent", "").strip()
            )
        except BillingError as exc:
            messages.error(request, exc.message)
            return redirect("billing:card_replace")
        audit(request, "card.saved", str(card), after={"expiry": card.expiry})
        messages.success(request, f"{card} (expires {card.expiry}) is now the saved card.")
        return redirect("billing:payment_methods")
    context = {
        "stripe_js_url": settings.STRIPE_JS_URL,
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
    }
    try:
        _id, context["setup_secret"] = cards.card_setup_intent(account=account)
    except gateway.GatewayError:
        context["gateway_down"] = True
    return render(request, "billing/card_form.html", context)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.BILLING_MANAGE)
def card_remove(request: HttpRequest, code) -> HttpResponse:
    account = account_for_request(request)
    card = get_card_for(request, code)
    if request.method == "POST":
        cards.card_remove(account=account, card=card)
        audit(request, "card.removed", str(card))
        messages.success(
            request, f"{card} is removed; auto-recharge by card stops until you add one."
        )
        return redirect("billing:payment_methods")
    return render(request, "billing/card_remove.html", {"card": card})


@require_http_methods(["GET", "POST"])
@require_capability(Capability.BILLING_MANAGE)
def agreement_new(request: HttpRequest) -> HttpResponse:
    """Request an agreement: it waits for an operator, and pays for nothing until approved."""
    account = account_for_request(request)
    form = AgreementRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            agreement = agreement_request(account=account, **form.cleaned_data)
        except BillingError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            audit(request, "agreement.requested", agreement.number, after=form.cleaned_data)
            messages.success(
                request,
                f"{agreement} is requested. It waits for an operator to register it with a "
                "credit limit; until then it cannot pay for anything.",
            )
            return redirect("billing:payment_methods")
    return render(request, "billing/agreement_form.html", {"form": form})


@require_http_methods(["GET", "POST"])
@require_capability(Capability.BILLING_MANAGE)
def agreement_delete(request: HttpRequest, code) -> HttpResponse:
    account = account_for_request(request)
    agreement = get_agreement_for(request, code)
    if request.method == "POST":
        agreement_remove(account=account, agreement=agreement)
        audit(request, "agreement.removed", agreement.number)
        messages.success(request, f"{agreement} is removed; its invoices stay.")
        return redirect("billing:payment_methods")
    return render(request, "billing/agreement_remove.html", {"agreement": agreement})


@require_POST
@require_capability(Capability.BILLING_MANAGE)
def recharge_method(request: HttpRequest) -> HttpResponse:
    account = account_for_request(request)
    form = RechargeMethodForm(request.POST, account=account)
    if not form.is_valid():
        messages.error(request, "Choose the saved card or one of your agreements.")
        return redirect("billing:payment_methods")
    agreement = form.agreements.get(form.cleaned_data["method"])
    try:
        recharge_method_set(account=account, agreement=agreement)
    except BillingError as exc:
        messages.error(request, exc.message)
        return redirect("billing:payment_methods")
    audit(
        request,
        "auto_recharge.method_changed",
        before={"method": account.recharge_method},
        after={"method": str(agreement or "card")},
    )
    messages.success(request, f"Auto-recharge is paid with {agreement or 'the saved card'}.")
    return redirect("billing:payment_methods")
