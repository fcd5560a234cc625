"""Invoices: issued inside the transaction that adds the funds they pay for, never changed after."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.exceptions import BillingError
from billing.models import CreditAccount, EnterpriseAgreement, Invoice, InvoiceLine
from billing.money import amount_text
from billing.services.ledger import lock_account
from credits_portal.events import publish


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
    kind: str = Invoice.Kind.PURCHASE,
    period_start: date | None = None,
    period_end: date | None = None,
) -> Invoice:
    """The next invoice of `account`, whose row lock the caller holds (it keeps numbers gapless).

    Paid at once for cards; due after the agreement's payment terms, or `due_days` (overage).
    Invoices on an agreement go through `agreements.agreement_invoice_issue` (its credit limit).
    `period_start`/`period_end` name the usage an overage invoice bills, both or neither.
    """
    if (period_start is None) != (period_end is None):
        raise ValueError("An invoice period has both a start and an end, or neither.")
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
        paid_at=None if due else issued_at,
        due_date=(issued_at + timedelta(days=days)).date() if due else None,
        currency=account.currency,
        total=total,
        kind=kind,
        period_start=period_start,
        period_end=period_end,
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
    currency = str(account.currency)
    publish(
        organisation_id=account.organisation_id,
        type="invoice.issued",
        key=f"invoice.issued:{invoice.code}",
        data={
            "invoice": invoice.display_number,
            "id": str(invoice.code),
            "kind": kind,
            "total": amount_text(total, currency),
            "currency": currency,
            "status": invoice.status,
            "issued_at": issued_at.isoformat(),
            "due_at": invoice.due_date.isoformat() if invoice.due_date else None,
        },
    )
    return invoice


def invoice_mark_paid(*, invoice: Invoice) -> bool:
    """An operator records that a due invoice was paid (freeing its amount on the agreement's
    credit limit). Only `status` and `paid_at` change. False when it was already paid."""
    with transaction.atomic():
        # The account's lock: the credit-limit check reads these invoices under it.
        lock_account(invoice.account)
        current = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if current.status == Invoice.Status.PAID:
            return False
        if current.status != Invoice.Status.DUE:
            raise BillingError(f"Invoice {invoice.display_number} is {current.status}, not due.")
        Invoice.objects.filter(pk=current.pk, status=Invoice.Status.DUE).update(
            status=Invoice.Status.PAID, paid_at=timezone.now()
        )
    invoice.refresh_from_db(fields=["status", "paid_at"])
    return True


def invoice_by_display_number(display_number: str) -> Invoice | None:
    """`CONTOSO-000012` (see `Invoice.display_number`): the slug, a dash, the number."""
    slug, _, number = (display_number or "").strip().rpartition("-")
    # Numbers are 6 digits or a few more; a slug with NUL or a lone surrogate is none of ours.
    if (
        not slug
        or not slug.isprintable()
        or not number.isascii()
        or not number.isdigit()
        or len(number) > 9
    ):
        return None
    return (
        Invoice.objects.select_related("account__organisation", "agreement")
        .filter(account__organisation__slug__iexact=slug, number=int(number))
        .first()
    )
