"""Stripe's webhook against localstripe: only payments the portal made for a row are honoured,
and a signed event of any shape answers 200 or 400, never 500."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
import time_machine
from django.utils import timezone

from billing.models import FundLot, Invoice, Payment, RechargeAttempt, StripeEvent
from billing.services import cards, recharge
from billing.services.recharge import recharge_run, recharge_sweep
from tests.billing.recharge_helpers import save_card, turn_on
from tests.builders import account_of
from tests.stripe_helpers import (
    NEEDS_AUTHENTICATION,
    foreign_intent,
    intent_as_dict,
    intents_where,
    other_customer,
    sign,
    signed_event,
)

pytestmark = pytest.mark.django_db
WEBHOOK = "/billing/stripe/webhook/"
D = Decimal


def post(client, body: bytes, signature: str | None = None):
    return client.post(
        WEBHOOK,
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body) if signature is None else signature,
    )


def pending_payment(org, amount: str = "50.00") -> Payment:
    """A card payment started in the portal, its card not yet charged."""
    return cards.payment_start(account=account_of(org), amount=amount, form_token=uuid.uuid4())


def nothing_added(org) -> None:
    assert account_of(org).balance == 0
    assert not FundLot.objects.exists() and not Invoice.objects.exists()


@pytest.mark.parametrize("whose", ["no customer", "another customer"])
def test_a_payment_intent_made_at_the_gateway_for_a_pending_payment_is_ignored(client, org, whose):
    save_card(org)  # the account has a customer of its own at the gateway
    payment = pending_payment(org)
    forged = foreign_intent(
        amount_minor=5000,
        currency="USD",
        metadata={"payment": str(payment.code), "organisation": org.slug},
        customer=None if whose == "no customer" else other_customer(),
    )
    body, signature = signed_event("payment_intent.succeeded", forged)
    assert post(client, body, signature).status_code == 200
    payment.refresh_from_db()
    assert payment.status == "pending" and payment.stripe_payment_intent_id == ""
    nothing_added(org)
    # The portal's own charge for the payment still goes through, once.
    charged = cards.payment_charge(payment=payment, card=cards.card_current(account_of(org)))
    assert charged.status == "succeeded" and charged.stripe_payment_intent_id != forged["id"]
    assert account_of(org).balance == D("50.00") and FundLot.objects.count() == 1


@pytest.mark.parametrize(
    "event_type", ["payment_intent.succeeded", "payment_intent.payment_failed"]
)
def test_a_payment_intent_made_at_the_gateway_for_a_recharge_attempt_is_ignored(
    client, org, event_type
):
    turn_on(org)  # 50.00 above a 20.00 trigger, balance 0: a 70.00 recharge is due

    def die_before_charging(*args, **kwargs):
        raise SystemExit("worker killed")

    with (
        mock.patch.object(recharge, "_create_intent", die_before_charging),
        pytest.raises(SystemExit),
    ):
        recharge_run(account_id=account_of(org).pk)
    attempt = RechargeAttempt.objects.get()
    assert (attempt.status, attempt.amount, attempt.stripe_payment_intent_id) == (
        "charging",
        D("70"),
        "",
    )
    forged = foreign_intent(
        amount_minor=7000,
        currency="USD",
        metadata={"recharge": str(attempt.code), "organisation": org.slug},
    )
    body, signature = signed_event(event_type, forged)
    assert post(client, body, signature).status_code == 200
    attempt.refresh_from_db()
    assert attempt.status == "charging" and attempt.stripe_payment_intent_id == ""
    nothing_added(org)
    # Nor does the sweep that takes the attempt over adopt it: it charges the saved card.
    with time_machine.travel(timezone.now() + timedelta(minutes=7)):
        recharge_sweep()
    attempt.refresh_from_db()
    assert attempt.status == "succeeded" and attempt.stripe_payment_intent_id != forged["id"]
    assert account_of(org).balance == D("70.00") and FundLot.objects.count() == 1


def test_an_intent_of_our_customer_for_another_amount_is_not_attached(client, org):
    card = save_card(org)
    payment = pending_payment(org)
    wrong = foreign_intent(
        amount_minor=999_00,
        currency="USD",
        metadata={"payment": str(payment.code), "organisation": org.slug},
        customer=account_of(org).stripe_customer_id,
    )
    assert wrong["payment_method"] != card.stripe_payment_method_id
    body, signature = signed_event("payment_intent.succeeded", wrong)
    assert post(client, body, signature).status_code == 200
    payment.refresh_from_db()
    assert payment.status == "pending" and payment.stripe_payment_intent_id == ""
    nothing_added(org)


def test_the_event_is_only_a_hint_the_gateway_is_asked_again(client, org):
    """An event that says "succeeded" for our own intent still waiting for authentication."""
    card = save_card(org, NEEDS_AUTHENTICATION)
    payment = cards.payment_charge(payment=pending_payment(org), card=card)
    assert payment.status == "action"
    claimed = intent_as_dict(payment.stripe_payment_intent_id) | {"status": "succeeded"}
    body, signature = signed_event("payment_intent.succeeded", claimed)
    assert post(client, body, signature).status_code == 200
    payment.refresh_from_db()
    assert payment.status == "action"
    nothing_added(org)


def _event(**fields) -> bytes:
    base = {"id": f"evt_{uuid.uuid4().hex[:24]}", "object": "event", "created": 1}
    return json.dumps(base | fields).encode()


def _without(mapping: dict, key: str) -> dict:
    return {k: v for k, v in mapping.items() if k != key}


SUCCEEDED = "payment_intent.succeeded"
# Each builds a signed body from (the pending payment's code, a foreign intent as a dict).
MALFORMED = {
    "no metadata": (
        lambda code, pi: _event(type=SUCCEEDED, data={"object": _without(pi, "metadata")}),
        200,
    ),
    "metadata not an object": (
        lambda code, pi: _event(type=SUCCEEDED, data={"object": pi | {"metadata": "x"}}),
        200,
    ),
    "no data": (lambda code, pi: _event(type=SUCCEEDED), 200),
    "data not an object": (lambda code, pi: _event(type=SUCCEEDED, data="pi_1"), 200),
    "data.object a string": (
        lambda code, pi: _event(type=SUCCEEDED, data={"object": pi["id"]}),
        200,
    ),
    "object without an id": (
        lambda code, pi: _event(type=SUCCEEDED, data={"object": _without(pi, "id")}),
        200,
    ),
    "object id not a string": (
        lambda code, pi: _event(type=SUCCEEDED, data={"object": pi | {"id": ["pi_1"]}}),
        200,
    ),
    "unknown PaymentIntent": (
        lambda code, pi: _event(
            type=SUCCEEDED,
            data={"object": {"id": "pi_unknown0000000000000000", "metadata": {"payment": code}}},
        ),
        200,
    ),
    "unknown type": (lambda code, pi: _event(type="charge.refunded", data={"object": pi}), 200),
    "type not a string": (lambda code, pi: _event(type=7, data={"object": pi}), 400),
    "missing type": (lambda code, pi: _event(data={"object": pi}), 400),
    "missing id": (
        lambda code, pi: json.dumps({"type": SUCCEEDED, "data": {"object": pi}}).encode(),
        400,
    ),
    "id with NUL": (
        lambda code, pi: _event(id="evt_\x00", type=SUCCEEDED, data={"object": pi}),
        400,
    ),
    "id a lone surrogate": (
        lambda code, pi: _event(id="evt_\ud800", type=SUCCEEDED, data={"object": pi}),
        400,
    ),
    "type with NUL": (lambda code, pi: _event(type="charge.\x00", data={"object": pi}), 400),
    "type a lone surrogate": (lambda code, pi: _event(type="\ud800", data={"object": pi}), 400),
    "object id with NUL": (
        lambda code, pi: _event(type=SUCCEEDED, data={"object": pi | {"id": "pi_\x00"}}),
        200,
    ),
    "empty body": (lambda code, pi: b"", 400),
    "non-JSON body": (lambda code, pi: b"{not json", 400),
    "JSON that is not an object": (lambda code, pi: b'["evt_1"]', 400),
    "not UTF-8": (lambda code, pi: b'{"id": "\xff"}', 400),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_signed_event_answers_without_a_500_and_changes_nothing(client, org, case):
    payment = pending_payment(org)
    forged = foreign_intent(
        amount_minor=5000, currency="USD", metadata={"payment": str(payment.code)}
    )
    build, status = MALFORMED[case]
    response = post(client, build(str(payment.code), forged))
    assert response.status_code == status
    payment.refresh_from_db()
    assert payment.status == "pending" and payment.stripe_payment_intent_id == ""
    nothing_added(org)
    # What answered 200 was handled (and is not handled again); what answered 400 was not.
    assert StripeEvent.objects.count() == (1 if status == 200 else 0)


def test_an_unreachable_gateway_asks_stripe_to_send_the_event_again(client, org):
    from billing.gateway import ConnectionFailed
    from billing.gateway.stripe_gateway import StripeGateway

    card = save_card(org)
    payment = cards.payment_charge(payment=pending_payment(org), card=card)
    body, signature = signed_event(
        "payment_intent.succeeded", intent_as_dict(payment.stripe_payment_intent_id)
    )
    with mock.patch.object(
        StripeGateway, "payment_retrieve", side_effect=ConnectionFailed("read timed out")
    ):
        assert post(client, body, signature).status_code == 503
    assert not StripeEvent.objects.exists()
    assert post(client, body, signature).status_code == 200
    assert StripeEvent.objects.count() == 1 and FundLot.objects.count() == 1


@pytest.mark.parametrize("repairer", ["webhook first", "sweep first"])
def test_a_recharge_worker_killed_after_the_charge_is_repaired_exactly_once(client, org, repairer):
    """The gateway charged the card, then the worker died before saving the payment's id: the
    webhook and the sweep (in either order) find our customer's payment naming the attempt and
    record it once; the card is never charged a second time."""
    from billing.services import payments

    turn_on(org)  # a 70.00 recharge is due
    with (
        mock.patch.object(payments, "payment_id_save", side_effect=SystemExit("worker killed")),
        pytest.raises(SystemExit),
    ):
        recharge_run(account_id=account_of(org).pk)
    attempt = RechargeAttempt.objects.get()
    assert (attempt.status, attempt.stripe_payment_intent_id) == ("charging", "")
    assert account_of(org).balance == 0
    (charged,) = [pi.id for pi in intents_where(recharge=str(attempt.code))]

    def webhook():
        body, signature = signed_event("payment_intent.succeeded", intent_as_dict(charged))
        assert post(client, body, signature).status_code == 200

    def sweep():
        with time_machine.travel(timezone.now() + timedelta(minutes=7)):
            recharge_sweep()

    for repair in (webhook, sweep) if repairer == "webhook first" else (sweep, webhook):
        repair()
        attempt.refresh_from_db()
        assert (attempt.status, attempt.stripe_payment_intent_id) == ("succeeded", charged)
        assert account_of(org).balance == D("70.00") and FundLot.objects.count() == 1
    assert Invoice.objects.count() == 1 and len(intents_where(recharge=str(attempt.code))) == 1
