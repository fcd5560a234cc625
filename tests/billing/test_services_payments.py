"""The one payment recorder: which gateway payments may settle a row, and recording them once."""

from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal

import pytest

from billing import gateway
from billing.models import FundLot, Invoice, Payment
from billing.services import cards, payments
from tests.billing.recharge_helpers import save_card
from tests.builders import account_of
from tests.stripe_helpers import NEEDS_AUTHENTICATION

pytestmark = pytest.mark.django_db


def start(org, amount: str = "50.00") -> Payment:
    return cards.payment_start(account=account_of(org), amount=amount, form_token=uuid.uuid4())


def test_a_payment_saved_on_another_row_does_not_settle_this_one(org):
    card = save_card(org)
    paid = cards.payment_charge(payment=start(org), card=card)
    other = start(org)
    answer = gateway.active().payment_retrieve(paid.stripe_payment_intent_id)
    # Same customer, same amount, succeeded: but it is another row's payment.
    assert payments.payment_succeeded(row=other, answer=answer).status == "pending"
    other.refresh_from_db()
    assert other.stripe_payment_intent_id == "" and FundLot.objects.count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"amount_minor": 5001},
        {"currency": "EUR"},
        {"id": "pi_another0000000000000000"},
    ],
)
def test_the_saved_payment_must_match_the_row(org, change):
    """The row's own payment, as the gateway answers it, changed in one respect."""
    card = save_card(org, NEEDS_AUTHENTICATION)
    payment = cards.payment_charge(payment=start(org), card=card)
    assert payment.status == "action"
    own = gateway.active().payment_retrieve(payment.stripe_payment_intent_id)
    answer = dataclasses.replace(own, status=gateway.PaymentStatus.SUCCEEDED, **change)
    assert payments.payment_succeeded(row=payment, answer=answer).status == "action"
    assert account_of(org).balance == 0 and not Invoice.objects.exists()


def test_our_customers_payment_naming_the_row_is_adopted_once(org):
    """A request that died after the charge and before saving its id: the payment is ours."""
    card = save_card(org, NEEDS_AUTHENTICATION)
    payment = cards.payment_charge(payment=start(org), card=card)
    own = gateway.active().payment_retrieve(payment.stripe_payment_intent_id)
    Payment.objects.filter(pk=payment.pk).update(stripe_payment_intent_id="")
    payment.refresh_from_db()
    answer = dataclasses.replace(own, status=gateway.PaymentStatus.SUCCEEDED)
    for _ in range(2):
        payment = payments.payment_succeeded(row=payment, answer=answer)
    assert payment.status == "succeeded" and payment.stripe_payment_intent_id == own.id
    assert account_of(org).balance == Decimal("50.00") and FundLot.objects.count() == 1
    assert FundLot.objects.get().reference == f"stripe:{own.id}"


def test_a_row_without_a_saved_payment_refuses_another_customers(org):
    save_card(org)
    payment = start(org)
    theirs = gateway.GatewayPayment(
        id="pi_theirs000000000000000000",
        status=gateway.PaymentStatus.SUCCEEDED,
        amount_minor=5000,
        currency="USD",
        customer="cus_someoneelse",
        payment_method="pm_x",
        metadata={"payment": str(payment.code)},
    )
    assert payments.payment_succeeded(row=payment, answer=theirs).status == "pending"
    payment.refresh_from_db()
    assert payment.stripe_payment_intent_id == "" and not FundLot.objects.exists()
