"""Adding funds other than by card: Enterprise Agreement purchases and operator grants."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.exceptions import BillingError
from billing.models import CreditAccount, EnterpriseAgreement, FundLot, LedgerEntry
from billing.money import format_money, parse_amount
from billing.services.agreements import agreement_invoice_issue
from billing.services.ledger import lot_add

PO_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./_#-]{0,49}$")
CREDITS_LINE = "Communications Credits"


def purchase_amount(account: CreditAccount, value: object) -> Decimal:
    """A purchase amount within the operator's bounds, in the account's currency."""
    currency = str(account.currency)
    amount = parse_amount(value, currency)
    low, high = settings.PURCHASE_MIN_AMOUNT, settings.PURCHASE_MAX_AMOUNT
    if amount < low:
        raise BillingError(
            f"The smallest purchase is {format_money(low, currency)}.", field="amount"
        )
    if amount > high:
        raise BillingError(
            f"The largest purchase is {format_money(high, currency)}.", field="amount"
        )
    return amount


def clean_po_number(value: str) -> str:
    value = (value or "").strip()
    if value and not PO_NUMBER.match(value):
        raise BillingError(
            "A purchase order number has at most 50 letters, digits, spaces or . / _ # -.",
            field="po_number",
        )
    return value


def agreement_remove(*, account: CreditAccount, agreement: EnterpriseAgreement) -> None:
    """Past invoices keep naming it; it can no longer be chosen, nor pay recharges."""
    with transaction.atomic():
        locked = CreditAccount.objects.select_for_update().get(pk=account.pk)
        if locked.recharge_agreement_id == agreement.pk:
            locked.recharge_method = CreditAccount.RechargeMethod.CARD
            locked.recharge_agreement = None
            locked.save(update_fields=["recharge_method", "recharge_agreement"])
        EnterpriseAgreement.objects.filter(pk=agreement.pk, removed_at__isnull=True).update(
            removed_at=timezone.now()
        )


def agreement_purchase(
    *,
    account: CreditAccount,
    agreement: EnterpriseAgreement,
    amount: Decimal,
    reference: str,
    po_number: str = "",
    actor: str = "",
    purchased_at: datetime | None = None,
) -> FundLot:
    """Funds added at once, with an invoice due under the agreement's payment terms; refused
    unless an operator registered the agreement and its due invoices plus `amount` stay within
    its credit limit (checked under the account's lock, with the invoice; a repeat of the same
    `reference` returns the first lot)."""
    po_number = clean_po_number(po_number)

    def issue(locked: CreditAccount):
        return agreement_invoice_issue(
            account=locked,
            agreement=agreement,
            total=amount,
            description=CREDITS_LINE,
            po_number=po_number,
        )

    return lot_add(
        account=account,
        amount=amount,
        source=FundLot.Source.AGREEMENT,
        kind=LedgerEntry.Kind.PURCHASE,
        reference=reference,
        purchased_at=purchased_at,
        invoice_issuer=issue,
        actor=actor,
        description=f"Purchase on {agreement}" + (f", PO {po_number}" if po_number else ""),
    )


def funds_grant(
    *,
    account: CreditAccount,
    amount: Decimal,
    reference: str,
    purchased_at: datetime | None = None,
    actor: str = "",
) -> FundLot:
    """Credit granted by an operator (promotion, migration of an existing lot): no invoice."""
    return lot_add(
        account=account,
        amount=amount,
        source=FundLot.Source.GRANT,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        reference=reference,
        purchased_at=purchased_at,
        actor=actor,
        description="Granted by an operator",
    )
