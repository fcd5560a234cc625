"""Paying for funds by card: enter or pick the card, charge it, finish authentication."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from billing import gateway
from billing.exceptions import BillingError
from billing.models import Payment
from billing.services import cards
from billing.services.recharge_settings import recharge_card_save
from billing.views.shortcuts import get_payment_for
from credits_portal.audit import audit
from credits_portal.permissions import Capability
from credits_portal.tenancy import require_capability

Status = Payment.Status


@never_cache
@require_GET
@require_capability(Capability.BILLING_MANAGE)
def payment(request: HttpRequest, code) -> HttpResponse:
    payment = get_payment_for(request, code)
    account = payment.account
    card = cards.card_current(account)
    context = {
        "payment": payment,
        "amount": cards.amount_display(payment),
        "card": card,
        "stripe_js_url": settings.STRIPE_JS_URL,
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
    }
    try:
        if payment.status == Status.PENDING and (card is None or request.GET.get("new_card")):
            _id, context["setup_secret"] = cards.card_setup_intent(account=account, payment=payment)
        elif payment.status == Status.REQUIRES_ACTION:
            context["payment_secret"] = cards.payment_intent_client_secret(payment)
    except gateway.GatewayError:
        context["gateway_down"] = True
    return render(request, "billing/payment.html", context)


@require_POST
@require_capability(Capability.BILLING_MANAGE)
def payment_charge(request: HttpRequest, code) -> HttpResponse:
    payment = get_payment_for(request, code)
    account = payment.account
    try:
        if setup_intent := request.POST.get("setup_intent", "").strip():
            recharge_card_save(account=account, setup_intent_id=setup_intent)
        card = cards.card_current(account)
        if card is None:
            raise BillingError("Enter a card first.")
        charged = cards.payment_charge(payment=payment, card=card)
        audit(
            request,
            "funds.card_charged",
            str(payment.code),
            after={"amount": charged.amount, "status": charged.status, "card": str(card)},
        )
    except BillingError as exc:
        messages.error(request, exc.message)
    except gateway.GatewayError:
        messages.error(
            request, "The payment service did not answer; nothing was charged. Try again."
        )
    return redirect("billing:payment", code=payment.code)


@require_GET
@require_capability(Capability.BILLING_MANAGE)
def payment_return(request: HttpRequest, code) -> HttpResponse:
    """Where the browser comes back after authenticating with the bank."""
    payment = get_payment_for(request, code)
    try:
        cards.payment_reconcile(payment=payment)
    except gateway.GatewayError:
        messages.warning(request, "The payment service did not answer; reload in a moment.")
    return redirect("billing:payment", code=payment.code)
