"""Card purchases through the real Stripe SDK against localstripe."""

from __future__ import annotations

import uuid
from decimal import Decimal
from unittest import mock

import pytest
import stripe

from billing import gateway
from billing.exceptions import BillingError
from billing.models import Card, FundLot, Invoice, Payment
from billing.services import cards, payments
from tests.builders import account_of, make_org
from tests.stripe_helpers import (
    DECLINED,
    DECLINED_ON_CHARGE,
    NEEDS_AUTHENTICATION,
    VISA,
    authenticate_payment,
    confirm_setup,
    intents_for,
)

pytestmark = pytest.mark.django_db


def saved_card(org, number: str = VISA) -> Card:
    account = account_of(org)
    setup_id, _secret = cards.card_setup_intent(account=account)
    intent = confirm_setup(setup_id, number)
    assert intent.status == "succeeded"
    return cards.card_save_from_setup(account=account, setup_intent_id=setup_id)


def start(org, amount: str = "50.00") -> Payment:
    return cards.payment_start(account=account_of(org), amount=amount, form_token=uuid.uuid4())


def test_a_payment_with_a_good_card_adds_the_funds_once(org):
    card = saved_card(org)
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2031)
    payment = cards.payment_charge(payment=start(org), card=card)
    assert payment.status == "succeeded"
    account = account_of(org)
    assert account.balance == Decimal("50.00")
    lot = FundLot.objects.get(account=account)
    assert (lot.source, lot.amount, lot.reference) == (
        "card",
        Decimal("50"),
        f"stripe:{payment.stripe_payment_intent_id}",
    )
    invoice = lot.invoice
    assert (invoice.number, invoice.status, invoice.total) == (1, "paid", Decimal("50"))
    assert invoice.payment_description == "Paid by Visa •••• 4242"
    # The browser's return and the webhook both reconcile again: still one lot, one charge.
    cards.payment_reconcile(payment=payment)
    payments.payment_succeeded(
        row=payment, answer=gateway.active().payment_retrieve(payment.stripe_payment_intent_id)
    )
    assert FundLot.objects.count() == 1 and Invoice.objects.count() == 1
    assert len(intents_for(payment.code)) == 1


def test_charging_twice_charges_once(org):
    card = saved_card(org)
    payment = start(org)
    first = cards.payment_charge(payment=payment, card=card)
    again = cards.payment_charge(payment=Payment.objects.get(pk=payment.pk), card=card)
    assert first.status == again.status == "succeeded"
    assert len(intents_for(payment.code)) == 1
    assert account_of(org).balance == Decimal("50.00")


def test_the_same_form_twice_is_one_payment(org):
    token = uuid.uuid4()
    account = account_of(org)
    first = cards.payment_start(account=account, amount="20", form_token=token)
    again = cards.payment_start(account=account, amount="20", form_token=token)
    assert first.pk == again.pk
    with pytest.raises(BillingError):
        cards.payment_start(account=account, amount="30", form_token=token)


def test_a_card_declined_when_saved_is_not_saved(org):
    account = account_of(org)
    setup_id, _ = cards.card_setup_intent(account=account)
    with pytest.raises(stripe.CardError):  # Stripe.js shows the decline in the browser
        confirm_setup(setup_id, DECLINED)
    with pytest.raises(BillingError, match="declined"):
        cards.card_save_from_setup(account=account, setup_intent_id=setup_id)
    assert not Card.objects.exists()


def test_a_card_declined_when_charged_adds_nothing(org):
    payment = cards.payment_charge(payment=start(org), card=saved_card(org, DECLINED_ON_CHARGE))
    assert payment.status == "failed"
    assert payment.failure_code == "card_declined"
    assert "declined" in payment.failure_message
    assert (
        account_of(org).balance == 0
        and not FundLot.objects.exists()
        and not Invoice.objects.exists()
    )
    assert cards.payment_reconcile(payment=payment).status == "failed"


def test_a_card_needing_authentication_is_paid_after_it(org):
    card = saved_card(org, NEEDS_AUTHENTICATION)
    payment = cards.payment_charge(payment=start(org), card=card)
    assert payment.status == "action"
    assert account_of(org).balance == 0
    authenticate_payment(
        payment.stripe_payment_intent_id, cards.payment_intent_client_secret(payment)
    )
    payment = cards.payment_reconcile(payment=payment)
    assert payment.status == "succeeded" and account_of(org).balance == Decimal("50.00")


def test_a_failed_authentication_adds_nothing(org):
    card = saved_card(org, NEEDS_AUTHENTICATION)
    payment = cards.payment_charge(payment=start(org), card=card)
    authenticate_payment(
        payment.stripe_payment_intent_id, cards.payment_intent_client_secret(payment), success=False
    )
    payment = cards.payment_reconcile(payment=payment)
    assert (
        payment.status == "failed"
        and payment.failure_code == "payment_intent_authentication_failure"
    )
    assert account_of(org).balance == 0


def test_a_new_card_replaces_the_old_one(org):
    first = saved_card(org)
    second = saved_card(org, "5555555555554444")
    first.refresh_from_db()
    assert first.removed_at is not None and second.removed_at is None
    assert cards.card_current(account_of(org)) == second


def test_another_organisations_setup_intent_cannot_be_saved(org, other_org):
    theirs, _ = cards.card_setup_intent(account=account_of(other_org))
    confirm_setup(theirs, VISA)
    with pytest.raises(BillingError):
        cards.card_save_from_setup(account=account_of(org), setup_intent_id=theirs)
    assert not Card.objects.exists()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("5", "smallest"),
        ("20000", "largest"),
        ("1.234", "decimals"),
        ("-3", "more than zero"),
        ("abc", "amount such as"),
    ],
)
def test_bad_amounts_are_refused(org, amount, message):
    with pytest.raises(BillingError, match=message):
        start(org, amount)
    assert not Payment.objects.exists()


def test_new_commerce_cannot_start_a_payment(db):
    with pytest.raises(BillingError, match="New-commerce"):
        start(make_org("newco", commerce="new"))


class WorkerKilled(BaseException):
    """The process dies: nothing after this point runs (not an Exception any handler catches)."""


def test_a_request_killed_between_the_charge_and_saving_it_is_repaired_once(org):
    """The card was charged at the gateway but the request died before the payment's id was
    saved: the browser's return (or the API's retry with the same key) finds our customer's
    payment naming the row and records it, once; the webhook after it adds nothing."""
    card = saved_card(org)
    payment = start(org)
    with (
        mock.patch.object(payments, "payment_id_save", side_effect=WorkerKilled),
        pytest.raises(WorkerKilled),
    ):
        cards.payment_charge(payment=payment, card=card)
    payment.refresh_from_db()
    assert (payment.status, payment.stripe_payment_intent_id) == ("charging", "")
    assert len(intents_for(payment.code)) == 1 and account_of(org).balance == 0

    repaired = cards.payment_reconcile(payment=payment)
    assert repaired.status == "succeeded" and repaired.stripe_payment_intent_id
    answer = gateway.active().payment_retrieve(repaired.stripe_payment_intent_id)
    cards.payment_apply(payment=Payment.objects.get(pk=payment.pk), answer=answer)
    cards.payment_reconcile(payment=repaired)
    assert FundLot.objects.count() == Invoice.objects.count() == 1
    assert account_of(org).balance == Decimal("50.00")
    assert len(intents_for(payment.code)) == 1


def test_a_charging_payment_with_no_charge_at_the_gateway_stays_charging(org):
    # The request died before the gateway was asked: nothing to find, nothing added.
    saved_card(org)
    payment = start(org)
    Payment.objects.filter(pk=payment.pk).update(status="charging")
    payment.refresh_from_db()
    assert cards.payment_reconcile(payment=payment).status == "charging"
    assert account_of(org).balance == 0 and not FundLot.objects.exists()
