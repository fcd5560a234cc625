"""Enterprise Agreements: requested by an admin, registered and limited by an operator.

An agreement pays for nothing until an operator makes it `active` with a credit limit. Every
invoice on an agreement is issued through `agreement_invoice_issue`, under the account's row lock,
which refuses one that would take the agreement's due invoices past its limit: all invoices of an
agreement belong to its organisation's one account, so that lock serialises the check.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billing.exceptions import (
    AgreementNotRegistered,
    BillingError,
    CreditLimitExceeded,
    NoCredits,
)
from billing.models import CreditAccount, EnterpriseAgreement, Invoice
from billing.money import format_money, parse_amount
from billing.services.invoices import invoice_issue
from billing.services.ledger import lock_account
from credits_portal.models import Organisation

AGREEMENT_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{3,39}$")
MAX_TERMS_DAYS = 120
Status = EnterpriseAgreement.Status


def _clean_number(number: str) -> str:
    number = (number or "").strip()
    if not AGREEMENT_NUMBER.match(number):
        raise BillingError("An agreement number has 4 to 40 letters, digits or -.", field="number")
    return number


def _clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if len(name) > 100 or not name.isprintable():
        raise BillingError("An agreement's name is at most 100 printable characters.", field="name")
    return name


def _clean_terms(days: object) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_TERMS_DAYS:
        raise BillingError(
            f"Payment terms are 0 to {MAX_TERMS_DAYS} days.", field="payment_terms_days"
        )
    return days


def _clean_limit(account: CreditAccount, value: object) -> Decimal:
    return parse_amount(value, str(account.currency), field="credit_limit")


def _current(organisation: Organisation, number: str) -> EnterpriseAgreement | None:
    return EnterpriseAgreement.objects.filter(
        organisation=organisation, number=number, removed_at__isnull=True
    ).first()


def agreement_request(
    *, account: CreditAccount, number: str, name: str = "", payment_terms_days: int | None = None
) -> EnterpriseAgreement:
    """An admin asks for an agreement: a `requested` row that pays for nothing until approved."""
    number = _clean_number(number)
    name = _clean_name(name)
    terms = 30 if payment_terms_days is None else _clean_terms(payment_terms_days)
    NoCredits.unless_held(account.organisation)
    with transaction.atomic():
        locked = lock_account(account)
        if _current(locked.organisation, number) is not None:
            raise BillingError(
                f"Agreement {number} is already registered or requested.", field="number"
            )
        return EnterpriseAgreement.objects.create(
            organisation=locked.organisation,
            number=number,
            name=name,
            payment_terms_days=terms,
            status=Status.REQUESTED,
        )


def agreement_register(
    *,
    account: CreditAccount,
    number: str,
    credit_limit: object,
    payment_terms_days: int | None = None,
    name: str | None = None,
) -> tuple[EnterpriseAgreement, str]:
    """The operator's door: register an agreement, approve the admin's request for it, or update
    the limit and terms of an active one. Returns it and what happened: `registered`,
    `approved` or `updated`."""
    number = _clean_number(number)
    limit = _clean_limit(account, credit_limit)
    terms = None if payment_terms_days is None else _clean_terms(payment_terms_days)
    name = None if name is None else _clean_name(name)
    NoCredits.unless_held(account.organisation)
    with transaction.atomic():
        locked = lock_account(account)
        agreement = _current(locked.organisation, number)
        if agreement is None:
            created = EnterpriseAgreement.objects.create(
                organisation=locked.organisation,
                number=number,
                name=name or "",
                payment_terms_days=30 if terms is None else terms,
                credit_limit=limit,
                status=Status.ACTIVE,
                approved_at=timezone.now(),
            )
            return created, "registered"
        outcome = "updated" if agreement.status == Status.ACTIVE else "approved"
        agreement.credit_limit = limit
        if terms is not None:
            agreement.payment_terms_days = terms
        if name is not None:
            agreement.name = name
        if outcome == "approved":
            agreement.status = Status.ACTIVE
            agreement.approved_at = timezone.now()
        agreement.save(
            update_fields=["credit_limit", "payment_terms_days", "name", "status", "approved_at"]
        )
        return agreement, outcome


def agreement_approve(*, agreement: EnterpriseAgreement) -> EnterpriseAgreement:
    """Make a requested agreement active with the credit limit the operator set on it."""
    if agreement.removed_at is not None:
        raise BillingError(f"{agreement} was removed.")
    if agreement.credit_limit is None:
        raise BillingError(f"Set a credit limit on {agreement} before approving it.")
    account = CreditAccount.objects.select_related("organisation").get(
        organisation_id=agreement.organisation_id
    )
    registered, _ = agreement_register(
        account=account,
        number=agreement.number,
        credit_limit=agreement.credit_limit,
        payment_terms_days=agreement.payment_terms_days,
    )
    return registered


def agreement_unpaid(agreement: EnterpriseAgreement) -> Decimal:
    """What the agreement's due invoices add up to: the part of its limit in use."""
    total = Invoice.objects.filter(agreement=agreement, status=Invoice.Status.DUE).aggregate(
        total=Sum("total")
    )["total"]
    return total or Decimal(0)


def agreement_active(
    *, account: CreditAccount, agreement: EnterpriseAgreement
) -> EnterpriseAgreement:
    """`agreement`, read again, if the operator registered it for this account's organisation."""
    current = EnterpriseAgreement.objects.filter(pk=agreement.pk).first()
    if (
        current is None
        or current.organisation_id != account.organisation_id
        or not current.is_active
    ):
        raise AgreementNotRegistered(
            "Choose an Enterprise Agreement an operator registered for your organisation."
        )
    return current


def agreement_credit_check(
    *, account: CreditAccount, agreement: EnterpriseAgreement, amount: Decimal
) -> EnterpriseAgreement:
    """Refuse `amount` on the agreement when its due invoices plus it would pass the limit.

    The caller holds the account's row lock, in the transaction that issues the invoice.
    """
    current = agreement_active(account=account, agreement=agreement)
    unpaid = agreement_unpaid(current)
    if unpaid + amount > current.credit_limit:
        currency = str(account.currency)
        left = max(current.credit_limit - unpaid, Decimal(0))
        raise CreditLimitExceeded(
            f"{current} has {format_money(unpaid, currency)} in unpaid invoices of its "
            f"{format_money(current.credit_limit, currency)} credit limit: at most "
            f"{format_money(left, currency)} more can be invoiced until an invoice is paid."
        )
    return current


def agreement_invoice_issue(
    *,
    account: CreditAccount,
    agreement: EnterpriseAgreement,
    total: Decimal,
    description: str,
    kind: str = Invoice.Kind.PURCHASE,
    po_number: str = "",
    period_start: date | None = None,
    period_end: date | None = None,
) -> Invoice:
    """The invoice on an agreement, within its credit limit; `account` is locked by the caller."""
    current = agreement_credit_check(account=account, agreement=agreement, amount=total)
    return invoice_issue(
        account=account,
        total=total,
        description=description,
        payment_description=str(current),
        agreement=current,
        po_number=po_number,
        kind=kind,
        period_start=period_start,
        period_end=period_end,
    )


def agreements_choosable(organisation: Organisation):
    """The agreements an admin may pay with: active ones the operator registered."""
    return EnterpriseAgreement.objects.filter(
        organisation=organisation, status=Status.ACTIVE, removed_at__isnull=True
    )
