"""Loading billing objects for the signed-in organisation: another tenant's object is a 404."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from billing.models import Card, CreditAccount, EnterpriseAgreement, Invoice, Payment


def account_for_request(request: HttpRequest) -> CreditAccount:
    return get_object_or_404(
        CreditAccount.objects.select_related("organisation", "recharge_agreement"),
        organisation=request.organisation,
    )


def get_payment_for(request: HttpRequest, code) -> Payment:
    return get_object_or_404(
        Payment.objects.select_related("account__organisation"),
        account__organisation=request.organisation,
        code=code,
    )


def get_invoice_for(request: HttpRequest, code) -> Invoice:
    return get_object_or_404(
        Invoice.objects.select_related("account__organisation", "agreement"),
        account__organisation=request.organisation,
        code=code,
    )


def get_agreement_for(request: HttpRequest, code) -> EnterpriseAgreement:
    return get_object_or_404(
        EnterpriseAgreement, organisation=request.organisation, code=code, removed_at__isnull=True
    )


def get_card_for(request: HttpRequest, code) -> Card:
    return get_object_or_404(
        Card, account__organisation=request.organisation, code=code, removed_at__isnull=True
    )
