"""One payment path: whether a gateway's payment is one we made for a row, and recording its
success once.

Card purchases (`Payment`) and card auto-recharges (`RechargeAttempt`) are charged with the row's
code in the payment's metadata, and the payment's id is saved on the row. A gateway's answer
(our own call, the browser's return, a sweep or a webhook) is honoured only for the payment saved
on the row or, when a request died before saving it, for a payment of the account's own customer
whose metadata names the row; its amount and currency must be the row's. Anything else is logged
and ignored, and nothing is saved on the row. The success (lot, invoice, ledger entries, the row's
status) is recorded by `success_record`, once, under the account lock.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.gateway import GatewayPayment, PaymentStatus
from billing.models import (
    Card,
    CreditAccount,
    FundLot,
    Invoice,
    LedgerEntry,
    Payment,
    RechargeAttempt,
)
from billing.money import amount_text, format_money, to_minor_units
from billing.services.invoices import invoice_issue
from billing.services.ledger import lock_account, lot_add
from billing.services.notifications import notify_later, site_url
from billing.services.purchases import CREDITS_LINE
from credits_portal.events import publish

log = logging.getLogger(__name__)
Row = Payment | RechargeAttempt


@dataclass(frozen=True)
class _Purpose:
    """How a kind of row is named at the gateway and what its success posts."""

    metadata_key: str
    source: str
    kind: str
    invoice_line: str  # {note} is filled in
    invoice_kind: str
    entry: str  # the ledger entry's description; {amount} is filled in


PURPOSES: dict[type, _Purpose] = {
    Payment: _Purpose(
        "payment",
        FundLot.Source.CARD,
        LedgerEntry.Kind.PURCHASE,
        CREDITS_LINE,
        Invoice.Kind.PURCHASE,
        "Card purchase of {amount}",
    ),
    RechargeAttempt: _Purpose(
        "recharge",
        FundLot.Source.RECHARGE,
        LedgerEntry.Kind.RECHARGE,
        f"{CREDITS_LINE} (auto-recharge{{note}})",
        Invoice.Kind.RECHARGE,
        "Auto-recharge of {amount}",
    ),
}


def invoice_line(row: Row) -> str:
    """The invoice line of what `row` paid for, with the attempt's note (a capped recharge)."""
    note = getattr(row, "note", "")
    return PURPOSES[type(row)].invoice_line.format(note=f", {note}" if note else "")


def payment_metadata(*, row: Row, account: CreditAccount) -> dict[str, str]:
    """What a charge for `row` carries at the gateway: the row's code and the organisation."""
    return {
        PURPOSES[type(row)].metadata_key: str(row.code),
        "organisation": account.organisation.slug,
    }


def row_for_payment(answer: GatewayPayment) -> Row | None:
    """The row a gateway payment may be for: the one that saved its id, else the one its metadata
    names. Whether it may settle that row is `payment_owned`'s question, asked before acting."""
    for model in PURPOSES:
        row = model.objects.filter(stripe_payment_intent_id=answer.id).first()
        if row is not None:
            return row
    for model, purpose in PURPOSES.items():
        try:
            code = uuid.UUID(answer.metadata.get(purpose.metadata_key, ""))
        except ValueError:
            continue
        row = model.objects.filter(code=code).first()
        if row is not None:
            return row
    return None


def payment_owned(*, row: Row, answer: GatewayPayment) -> bool:
    """Whether `answer` may settle `row`: it is the payment saved on the row; or, none saved yet,
    the account's own customer paid it and its metadata names the row (its id is saved then).
    Either way its amount and currency are the row's. A refusal is logged."""
    model = type(row)
    purpose = PURPOSES[model]
    account = CreditAccount.objects.get(pk=row.account_id)
    saved = model.objects.values_list("stripe_payment_intent_id", flat=True).get(pk=row.pk)
    currency = str(account.currency)
    refusal = ""
    if saved and saved != answer.id:
        refusal = f"the row's payment is {saved}"
    elif not saved and not (
        account.stripe_customer_id and answer.customer == account.stripe_customer_id
    ):
        refusal = f"its customer {answer.customer or '(none)'} is not the account's"
    elif not saved and answer.metadata.get(purpose.metadata_key) != str(row.code):
        refusal = "its metadata does not name the row"
    elif answer.currency != currency or answer.amount_minor != to_minor_units(row.amount, currency):
        refusal = f"{answer.amount_minor} {answer.currency} minor units are not {row.amount}"
    if refusal:
        log.warning(
            "ignored gateway payment %s for %s %s: %s",
            answer.id,
            purpose.metadata_key,
            row.code,
            refusal,
        )
        return False
    if saved:
        row.stripe_payment_intent_id = saved
        return True
    return payment_id_save(row=row, payment_id=answer.id)


def payment_id_save(*, row: Row, payment_id: str) -> bool:
    """Save on `row` the id of the gateway payment we made for it, unless another is saved;
    whether `payment_id` is the row's payment now."""
    model = type(row)
    try:
        with transaction.atomic():
            model.objects.filter(pk=row.pk, stripe_payment_intent_id="").update(
                stripe_payment_intent_id=payment_id
            )
    except IntegrityError:
        # Payment ids are unique: another payment row already holds this one.
        log.error("gateway payment %s is already saved on another %s", payment_id, model.__name__)
        return False
    row.stripe_payment_intent_id = model.objects.values_list(
        "stripe_payment_intent_id", flat=True
    ).get(pk=row.pk)
    return row.stripe_payment_intent_id == payment_id


def payment_succeeded(*, row: Row, answer: GatewayPayment) -> Row:
    """Record that the gateway took `answer`'s money for `row`: the funds once, and only for a
    payment `payment_owned` honours; anything else changes nothing."""
    if answer.status != PaymentStatus.SUCCEEDED or not payment_owned(row=row, answer=answer):
        row.refresh_from_db()
        return row
    card = Card.objects.filter(
        account_id=row.account_id, stripe_payment_method_id=answer.payment_method
    ).first()
    line, kind = invoice_line(row), PURPOSES[type(row)].invoice_kind

    def issue(locked: CreditAccount) -> Invoice:
        return invoice_issue(
            account=locked,
            total=row.amount,
            description=line,
            payment_description=f"Paid by {card}" if card else "Paid by card",
            payment_intent_id=answer.id,
            kind=kind,
        )

    return success_record(row=row, reference=answer.reference, issue=issue)


def success_record(*, row: Row, reference: str, issue: Callable[[CreditAccount], Invoice]) -> Row:
    """The funds `row` paid for: its lot, invoice and ledger entries and its status, together
    under the account lock, once (the lot's `reference` is unique; a repeat changes nothing)."""
    model = type(row)
    purpose = PURPOSES[model]
    with transaction.atomic():
        # The account lock orders this with every other change to the account's money.
        account = lock_account(CreditAccount(pk=row.account_id))
        locked = model.objects.select_for_update().get(pk=row.pk)
        currency = str(account.currency)
        lot = lot_add(
            account=account,
            amount=locked.amount,
            source=purpose.source,
            kind=purpose.kind,
            reference=reference,
            invoice_issuer=issue,
            actor=_actor(locked),
            description=purpose.entry.format(amount=format_money(locked.amount, currency)),
        )
        if locked.status != model.Status.SUCCEEDED:
            _mark_succeeded(locked, account, lot)
    row.refresh_from_db()
    return row


def _actor(row: Row) -> str:
    if isinstance(row, Payment) and row.created_by_id:
        return row.created_by.email
    return ""


def _mark_succeeded(row: Row, account: CreditAccount, lot: FundLot) -> None:
    row.status = type(row).Status.SUCCEEDED
    row.lot = lot
    row.failure_code = row.failure_message = ""
    fields = ["status", "lot", "failure_code", "failure_message"]
    if isinstance(row, Payment):
        row.save(update_fields=[*fields, "updated_at"])
        return
    row.finished_at = timezone.now()
    row.save(update_fields=[*fields, "finished_at"])
    # A success ends the back-off after earlier declines.
    CreditAccount.objects.filter(pk=account.pk).update(
        recharge_failures=0, recharge_retry_after=None
    )
    currency = str(account.currency)
    account.refresh_from_db(fields=["balance"])
    invoice = lot.invoice
    notify_later(
        account=account,
        kind="recharge_succeeded",
        amount=format_money(row.amount, currency),
        balance=format_money(account.balance, currency),
        invoice=invoice.display_number if invoice else "",
        invoice_url=site_url("billing:invoice", code=invoice.code) if invoice else "",
        note=row.note,
    )
    publish(
        organisation_id=account.organisation_id,
        type="recharge.succeeded",
        key=f"recharge.succeeded:{row.code}",
        data={
            "recharge": str(row.code),
            "amount": amount_text(row.amount, currency),
            "currency": currency,
            "balance": amount_text(account.balance, currency),
            "invoice": invoice.display_number if invoice else None,
        },
    )
