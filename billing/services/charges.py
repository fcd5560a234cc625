"""Charges for what is not credits (seats): the default payment method, paid once per cause.

A charge is a row written before the gateway is called; its code is the gateway's idempotency
key, so a retry of the same cause (an Idempotency-Key, a form token, a renewal month) finds the
same row and, at the gateway, the same payment. On an agreement the invoice is issued through
`agreements.agreement_invoice_issue` (its credit limit); on the card it is issued paid once the
gateway took the money. `fulfil(invoice)` runs in the transaction that records the invoice, so
what was paid for (seats) and its invoice exist together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billing import gateway
from billing.exceptions import AgreementNotRegistered, BillingError, CreditLimitExceeded
from billing.gateway import GatewayPayment, PaymentStatus
from billing.models import Card, Charge, CreditAccount, EnterpriseAgreement, Invoice
from billing.money import to_minor_units
from billing.services.agreements import agreement_active, agreement_invoice_issue
from billing.services.cards import card_current, customer_ensure
from billing.services.invoices import invoice_issue
from billing.services.ledger import lock_account

log = logging.getLogger(__name__)
Status = Charge.Status
Method = CreditAccount.RechargeMethod
Fulfil = Callable[[Invoice], None]


class NoPaymentMethod(BillingError):
    """Nothing to pay with: no saved card and no registered agreement chosen."""

    code = "no_payment_method"

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(
            message
            or "Save a card or choose a registered Enterprise Agreement in Payment methods first.",
            field=field,
            conflict=True,
        )


class CardDeclined(BillingError):
    code = "card_declined"

    def __init__(self, message: str) -> None:
        super().__init__(message, conflict=True)


class ChargeInProgress(BillingError):
    code = "in_progress"

    def __init__(self) -> None:
        super().__init__(
            "The card gateway did not answer yet; try again with the same request.", conflict=True
        )


@dataclass(frozen=True)
class PaymentMethod:
    """What the account pays with by default: its saved card or a registered agreement."""

    card: Card | None = None
    agreement: EnterpriseAgreement | None = None

    def __str__(self) -> str:
        return str(self.agreement or self.card)


def payment_method_default(account: CreditAccount) -> PaymentMethod | None:
    """The one rule: the agreement recharges are paid with when that is the account's method and
    the operator still registers it, else the saved card; None when there is neither."""
    if account.recharge_method == Method.AGREEMENT and account.recharge_agreement_id:
        try:
            agreement = agreement_active(
                account=account, agreement=EnterpriseAgreement(pk=account.recharge_agreement_id)
            )
        except AgreementNotRegistered:
            agreement = None
        if agreement is not None:
            return PaymentMethod(agreement=agreement)
    card = card_current(account)
    return PaymentMethod(card=card) if card else None


def charge_pay(
    *,
    account: CreditAccount,
    reference: str,
    amount: Decimal,
    description: str,
    fulfil: Fulfil,
    agreement: EnterpriseAgreement | None = None,
    actor: str = "",
    period: tuple[date, date] | None = None,
    due_days_when_unpaid: int | None = None,
) -> Charge:
    """Pay `amount` for `reference` once: on `agreement` when named (a registered one), else the
    default payment method; `fulfil(invoice)` once, with the invoice.

    Refusals raise (`NoPaymentMethod`, `CardDeclined`, `AgreementNotRegistered`,
    `CreditLimitExceeded`, `ChargeInProgress`). With `due_days_when_unpaid` (a renewal: the
    seats were already used) nothing is refused: what cannot be paid is invoiced due instead.
    """
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise ValueError(f"A charge is a positive Decimal, not {amount!r}.")
    existing = Charge.objects.filter(account=account, reference=reference).first()
    if existing is not None:
        return _again(existing, amount, fulfil)
    method = PaymentMethod(agreement=agreement) if agreement else payment_method_default(account)
    if method is None:
        if due_days_when_unpaid is None:
            raise NoPaymentMethod()
        return _invoice_due(
            account, reference, amount, description, fulfil, actor, period, due_days_when_unpaid
        )
    if method.agreement is not None:
        try:
            return _on_agreement(
                account, method.agreement, reference, amount, description, fulfil, actor, period
            )
        except (AgreementNotRegistered, CreditLimitExceeded):
            if due_days_when_unpaid is None:
                raise
            return _invoice_due(
                account, reference, amount, description, fulfil, actor, period, due_days_when_unpaid
            )
    charge = _row(account, reference, amount, description, Method.CARD, None, actor)
    charge = _charge_card(charge, method.card, fulfil, period)
    if charge.status == Status.FAILED and due_days_when_unpaid is not None:
        return _invoice_due_for(charge, fulfil, period, due_days_when_unpaid)
    return _outcome(charge)


def _again(charge: Charge, amount: Decimal, fulfil: Fulfil) -> Charge:
    if charge.invoice_id is not None:
        return charge
    if charge.amount != amount:
        raise BillingError("This request was already used for another amount.", conflict=True)
    if charge.status in (Status.PENDING, Status.CHARGING):
        card = card_current(charge.account)
        if card is None:
            raise NoPaymentMethod()
        charge = _charge_card(charge, card, fulfil, None)
    return _outcome(charge)


def _outcome(charge: Charge) -> Charge:
    if charge.invoice_id is not None:
        return charge
    if charge.status == Status.FAILED:
        raise CardDeclined(charge.failure_message or "The card was declined.")
    raise ChargeInProgress()


def _row(account, reference, amount, description, method, agreement, actor, **fields) -> Charge:
    try:
        with transaction.atomic():
            return Charge.objects.create(
                account=account,
                reference=reference,
                kind=Invoice.Kind.SEATS,
                amount=amount,
                description=description[:200],
                method=method,
                agreement=agreement,
                actor=actor,
                **fields,
            )
    except IntegrityError:
        # The same cause, started by a concurrent request: that request's row.
        return Charge.objects.get(account=account, reference=reference)


def _period(period: tuple[date, date] | None) -> dict:
    return {"period_start": period[0], "period_end": period[1]} if period else {}


def _on_agreement(account, agreement, reference, amount, description, fulfil, actor, period):
    with transaction.atomic():
        # The account lock serialises the credit-limit check and the invoice numbers.
        locked = lock_account(account)
        existing = Charge.objects.filter(account=locked, reference=reference).first()
        if existing is not None:
            return _outcome(existing)
        invoice = agreement_invoice_issue(
            account=locked,
            agreement=agreement,
            total=amount,
            description=description,
            kind=Invoice.Kind.SEATS,
            **_period(period),
        )
        charge = _row(
            locked,
            reference,
            amount,
            description,
            Method.AGREEMENT,
            invoice.agreement,
            actor,
            status=Status.SUCCEEDED,
            invoice=invoice,
            finished_at=timezone.now(),
        )
        fulfil(invoice)
    return charge


def _charge_card(charge: Charge, card: Card, fulfil: Fulfil, period) -> Charge:
    """Charge the card for the row; a row left `charging` (a request died, the gateway did not
    answer) is asked again with the same key, which the gateway answers with the same payment."""
    if card.account_id != charge.account_id or card.removed_at is not None:
        raise NoPaymentMethod()
    # One request at a time asks the gateway about a charge: the same request sent twice at
    # once (a double submit) must not reach it twice, whatever the gateway does with the key.
    # The session's lock, held across the network call outside any transaction; a connection
    # that dies releases it, so a later repair asks again.
    if not _gateway_lock(charge.pk, take=True):
        return charge  # in flight in another request: its answer is the one that counts
    try:
        return _charge_card_locked(charge, card, fulfil, period)
    finally:
        _gateway_lock(charge.pk, take=False)


CHARGE_LOCKS = 0x43480001  # the advisory locks' first key: charges (the second is the charge)


def _gateway_lock(pk: int, *, take: bool) -> bool:
    with connection.cursor() as cursor:
        verb = "pg_try_advisory_lock" if take else "pg_advisory_unlock"
        cursor.execute(f"SELECT {verb}(%s, %s)", [CHARGE_LOCKS, pk % 2**31])
        return bool(cursor.fetchone()[0])


def _charge_card_locked(charge: Charge, card: Card, fulfil: Fulfil, period) -> Charge:
    Charge.objects.filter(pk=charge.pk, status=Status.PENDING).update(status=Status.CHARGING)
    charge.refresh_from_db()
    if charge.status != Status.CHARGING:
        return charge
    account = CreditAccount.objects.select_related("organisation").get(pk=charge.account_id)
    currency = str(account.currency)
    try:
        answer = gateway.active().charge_create(
            amount_minor=to_minor_units(charge.amount, currency),
            currency=currency,
            customer=customer_ensure(account),
            payment_method=card.stripe_payment_method_id,
            metadata={"charge": str(charge.code), "organisation": account.organisation.slug},
            key=f"charge-{charge.code}",
            off_session=True,
        )
    except gateway.CardError as exc:
        return _fail(charge, exc.code or "card_declined", exc.message)
    except gateway.ConnectionFailed:
        log.warning("gateway unreachable while charging %s", charge.code, exc_info=True)
        return charge
    return _apply(charge, answer, card, fulfil, period)


def _apply(charge: Charge, answer: GatewayPayment, card: Card, fulfil: Fulfil, period) -> Charge:
    currency = str(charge.account.currency)
    ours = (
        answer.metadata.get("charge") == str(charge.code)
        and answer.currency == currency
        and answer.amount_minor == to_minor_units(charge.amount, currency)
    )
    if not ours:
        log.warning("ignored gateway payment %s for charge %s", answer.id, charge.code)
        return charge
    if answer.status == PaymentStatus.FAILED:
        return _fail(
            charge, answer.error_code or "card_declined", answer.error_message or "Declined."
        )
    if answer.status != PaymentStatus.SUCCEEDED:
        # Off-session: the bank asking for authentication is a decline.
        return _fail(
            charge, "authentication_required", "The bank asks the cardholder to authenticate."
        )
    with transaction.atomic():
        account = lock_account(CreditAccount(pk=charge.account_id))
        locked = Charge.objects.select_for_update().get(pk=charge.pk)
        if locked.status == Status.SUCCEEDED:
            return locked
        invoice = invoice_issue(
            account=account,
            total=locked.amount,
            description=locked.description,
            payment_description=f"Paid by {card}",
            payment_intent_id=answer.id,
            kind=Invoice.Kind.SEATS,
            **_period(period),
        )
        Charge.objects.filter(pk=locked.pk).update(
            status=Status.SUCCEEDED,
            invoice=invoice,
            stripe_payment_intent_id=answer.id,
            finished_at=timezone.now(),
        )
        fulfil(invoice)
    charge.refresh_from_db()
    return charge


def _fail(charge: Charge, code: str, message: str) -> Charge:
    Charge.objects.filter(pk=charge.pk, status__in=[Status.PENDING, Status.CHARGING]).update(
        status=Status.FAILED,
        failure_code=code[:100],
        failure_message=message[:500],
        finished_at=timezone.now(),
    )
    charge.refresh_from_db()
    return charge


def _invoice_due(account, reference, amount, description, fulfil, actor, period, days) -> Charge:
    charge = _row(
        account,
        reference,
        amount,
        description,
        Method.CARD,
        None,
        actor,
        status=Status.FAILED,
        failure_code="no_payment_method",
        failure_message="Nothing to charge: invoiced, due by its due date.",
        finished_at=timezone.now(),
    )
    return _invoice_due_for(charge, fulfil, period, days)


def _invoice_due_for(charge: Charge, fulfil: Fulfil, period, days: int) -> Charge:
    """A charge that could not be paid, invoiced due in `days` instead (renewals), once."""
    with transaction.atomic():
        account = lock_account(CreditAccount(pk=charge.account_id))
        locked = Charge.objects.select_for_update().get(pk=charge.pk)
        if locked.invoice_id is not None:
            return locked
        invoice = invoice_issue(
            account=account,
            total=locked.amount,
            description=locked.description,
            payment_description=f"Due in {days} days ({locked.failure_message or 'unpaid'})"[:200],
            due_days=days,
            kind=Invoice.Kind.SEATS,
            **_period(period),
        )
        Charge.objects.filter(pk=locked.pk).update(invoice=invoice)
        fulfil(invoice)
    charge.refresh_from_db()
    return charge
