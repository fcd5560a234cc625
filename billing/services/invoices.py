"""Invoices: issued inside the transaction that adds the funds they pay for, never changed after."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from billing.models import CreditAccount, EnterpriseAgreement, Invoice, InvoiceLine


def seller_details() -> dict[str, str]:
    return {
        "name": settings.INVOICE_SELLER_NAME,
        "address": settings.INVOICE_SELLER_ADDRESS,
        "tax_id": settings.INVOICE_SELLER_TAX_ID,
    }


def buyer_details(account: CreditAccount) -> dict[str, str]:
    organisation = account.organisation
    return {
        "name": organisation.name,
        "organisation": organisation.slug,
        "country": organisation.country.name,
        "address": account.billing_address,
    }


def invoice_issue(
    *,
    account: CreditAccount,
    total: Decimal,
    description: str,
    payment_description: str,
    agreement: EnterpriseAgreement | None = None,
    po_number: str = "",
    payment_intent_id: str = "",
    due_days: int | None = None,
) -> Invoice:
    """The next invoice of `account`, whose row lock the caller holds (it keeps numbers gapless).

    Paid at once for cards; due after the agreement's payment terms, or `due_days` (overage).
    """
    issued_at = timezone.now()
    number = account.next_invoice_number
    account.next_invoice_number = number + 1
    account.save(update_fields=["next_invoice_number"])
    due = agreement is not None or due_days is not None
    days = agreement.payment_terms_days if agreement is not None else due_days
    invoice = Invoice.objects.create(
        account=account,
        number=number,
        issued_at=issued_at,
        status=Invoice.Status.DUE if due else Invoice.Status.PAID,
        due_date=(issued_at + timedelta(days=days)).date() if due else None,
        currency=account.currency,
        total=total,
        payment_description=payment_description,
        agreement=agreement,
        po_number=po_number,
        stripe_payment_intent_id=payment_intent_id,
        seller=seller_details(),
        buyer=buyer_details(account),
    )
    InvoiceLine.objects.create(
        invoice=invoice, description=description, quantity=1, unit_amount=total, amount=total
    )
    return invoice
