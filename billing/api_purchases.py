"""`POST /api/v1/account/purchases` and `GET /api/v1/invoices` (API.md), for admin keys.

A purchase is the same service as the portal's Add funds: on an agreement the operator
registered (within its credit limit), or off-session on the saved card.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.decorators import decorate_view

from billing.api import money_str
from billing.exceptions import (
    AgreementNotRegistered,
    CreditLimitExceeded,
    NoCredits,
)
from billing.models import CreditAccount, Invoice, Payment
from billing.services import cards
from billing.services.agreements import AGREEMENT_NUMBER, agreements_choosable
from billing.services.purchases import agreement_purchase, clean_po_number, purchase_amount
from credits_portal.api import (
    ApiProblem,
    FieldErrors,
    admin_auth,
    cursor_page,
    idempotency_token,
    idempotent_gateway,
)
from credits_portal.api_input import Text
from credits_portal.audit import actor_of, audit

router = Router(tags=["invoices"], auth=admin_auth)


class PurchaseIn(Schema):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "amount": "500.00",
                    "method": "agreement",
                    "agreement": "EA-4500123",
                    "po": "PO-7",
                },
                {"amount": "100.00", "method": "card"},
            ]
        }
    }

    amount: Text(30) = Field(
        description="A decimal string in the organisation's currency, within PURCHASE_MIN_AMOUNT"
        " and PURCHASE_MAX_AMOUNT (default 10 to 10000)."
    )
    method: Literal["agreement", "card"] = Field(
        description="`card`: the saved default card, off-session; `agreement`: invoiced."
    )
    agreement: Text(40) | None = Field(
        None, description="For `agreement`: the number of one an operator registered."
    )
    po: Text(50) | None = Field(
        None,
        description="For `agreement`: your purchase order number (letters, digits, . / _ # -).",
    )


class InvoiceOut(Schema):
    number: str
    kind: str
    total: str
    currency: str
    issued_at: datetime
    due_at: date | None
    status: str
    po: str | None
    period: str | None


class PurchaseOut(Schema):
    invoice: InvoiceOut
    balance: str


class InvoicesOut(Schema):
    invoices: list[InvoiceOut]
    next_cursor: str | None


class InvoicesQuery(Schema):
    cursor: Text(1000) | None = None
    limit: int = 50


def _conflict(code: str, message: str) -> ApiProblem:
    return ApiProblem(409, "Conflict", message, code=code)


def invoice_out(invoice: Invoice) -> dict:
    currency = str(invoice.currency)
    return {
        "number": invoice.display_number,
        "kind": invoice.kind,
        "total": money_str(invoice.total, currency),
        "currency": currency,
        "issued_at": invoice.issued_at,
        "due_at": invoice.due_date,
        "status": invoice.status,
        "po": invoice.po_number or None,
        "period": invoice.period,
    }


def _account(request: HttpRequest) -> CreditAccount:
    return CreditAccount.objects.select_related("organisation").get(
        organisation=request.organisation
    )


@router.post("/account/purchases", response={201: PurchaseOut})
@decorate_view(idempotent_gateway)
def purchase_create(request: HttpRequest, payload: PurchaseIn):
    """Add funds: on a registered agreement (invoiced, within its credit limit) or on the saved
    card, off-session. 409 `agreement_not_registered`, `credit_limit_exceeded`, `new_commerce`,
    `no_payment_method`, `card_declined`; 422 bad amounts."""
    account = _account(request)
    if not account.organisation.holds_credits:
        raise _conflict(NoCredits.code, NoCredits.MESSAGE)
    # Every invalid field is named at once (a 422), before any agreement or card is looked at.
    problems = FieldErrors()
    amount = problems.check("amount", lambda: purchase_amount(account, payload.amount))
    if payload.method == "agreement":
        number, po_number = _agreement_fields(payload, problems)
        problems.raise_any()
        invoice = _on_agreement(request, account, number, po_number, amount)
    else:
        if payload.po:
            problems.add("po", "A purchase order number goes with an Enterprise Agreement.")
        if payload.agreement:
            problems.add("agreement", "An agreement goes with the method `agreement`.")
        problems.raise_any()
        invoice = _on_card(request, account, amount)
    account.refresh_from_db(fields=["balance"])
    return Status(
        201,
        {
            "invoice": invoice_out(invoice),
            "balance": money_str(account.balance, str(account.currency)),
        },
    )


def _agreement_fields(payload: PurchaseIn, problems: FieldErrors) -> tuple[str, str]:
    """The agreement's number and the PO number as sent, their problems noted in `problems`."""
    number = (payload.agreement or "").strip()
    if not number:
        problems.add("agreement", "Name the agreement to invoice, e.g. EA-4500123.")
    elif not AGREEMENT_NUMBER.match(number):
        # Never a number anyone registered (NUL or a lone surrogate would not reach the database).
        problems.add("agreement", "An agreement number has 4 to 40 letters, digits or -.")
    po_number = problems.check("po", lambda: clean_po_number(payload.po or ""))
    return number, po_number or ""


def _on_agreement(
    request: HttpRequest, account: CreditAccount, number: str, po_number: str, amount
):
    # Another organisation's agreement answers exactly as one that does not exist.
    agreement = agreements_choosable(request.organisation).filter(number=number).first()
    if agreement is None:
        raise _conflict(
            "agreement_not_registered",
            f"{number!r} is not an agreement an operator registered for your organisation.",
        )
    try:
        lot = agreement_purchase(
            account=account,
            agreement=agreement,
            amount=amount,
            po_number=po_number,
            # The same Idempotency-Key is the same purchase, even after a crash before its answer.
            reference=f"api:{idempotency_token(request)}",
            actor=actor_of(request),
        )
    except AgreementNotRegistered as exc:
        raise _conflict(exc.code, exc.message) from None
    except CreditLimitExceeded as exc:
        raise _conflict(exc.code, exc.message) from None
    audit(
        request,
        "funds.added_by_agreement",
        agreement.number,
        after={"amount": lot.amount, "po_number": po_number, "invoice": lot.invoice.display_number},
    )
    return lot.invoice


def _on_card(request: HttpRequest, account: CreditAccount, amount):
    card = cards.card_current(account)
    if card is None:
        raise _conflict("no_payment_method", "Save a card in the portal before paying by card.")
    # A retry of the same key (after a 5xx or a crash) finds the same payment.
    payment = cards.payment_start(
        account=account, amount=amount, form_token=idempotency_token(request)
    )
    if payment.status == Payment.Status.PENDING:
        payment = cards.payment_charge(payment=payment, card=card, off_session=True)
    elif payment.status in (Payment.Status.CHARGING, Payment.Status.REQUIRES_ACTION):
        payment = cards.payment_reconcile(payment=payment)
    if payment.status == Payment.Status.SUCCEEDED:
        invoice = payment.lot.invoice
        audit(
            request,
            "funds.card_payment",
            str(payment.code),
            after={"amount": payment.amount, "invoice": invoice.display_number},
        )
        return invoice
    if payment.status == Payment.Status.FAILED:
        raise _conflict("card_declined", payment.failure_message or "The card was declined.")
    if payment.status == Payment.Status.REQUIRES_ACTION:
        raise _conflict(
            "card_declined",
            "The bank asks the cardholder to authenticate this payment; pay in the portal.",
        )
    # The gateway did not answer: the charge may have happened. The same key asks again.
    raise ApiProblem(
        503,
        "Payment outcome unknown",
        "The card gateway did not answer; retry with the same Idempotency-Key.",
        code="gateway_unavailable",
    )


def _invoice_number(text: str) -> int:
    number = int(text.removeprefix("inv_"))
    if not 0 < number < 2**31:  # an integer column: a larger one would reach PostgreSQL
        raise ValueError(text)
    return number


@router.get("/invoices", response=InvoicesOut)
def invoices_list(request: HttpRequest, query: Query[InvoicesQuery]):
    """The organisation's invoices, newest first; follow `next_cursor` for older ones."""
    account = _account(request)
    page, next_cursor = cursor_page(
        Invoice.objects.filter(account=account)
        .select_related("account__organisation")
        .order_by("-number"),
        cursor=query.cursor,
        limit=query.limit,
        max_limit=200,
        parse=_invoice_number,
        after=lambda invoices, number: invoices.filter(number__lt=number),
        position=lambda invoice: f"inv_{invoice.number}",
    )
    return {"invoices": [invoice_out(invoice) for invoice in page], "next_cursor": next_cursor}
