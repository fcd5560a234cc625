"""`POST /api/v1/account/purchases`: a registered agreement within its limit, or the card."""

from __future__ import annotations

import json
from decimal import Decimal
from unittest import mock

import pytest

from billing.models import FundLot, Invoice, Payment
from billing.services.agreements import agreement_register, agreement_request
from tests.billing.recharge_helpers import save_card
from tests.builders import account_of, make_api_key, make_org
from tests.stripe_helpers import DECLINED_ON_CHARGE, intents_where

pytestmark = pytest.mark.django_db
PATH = "/api/v1/account/purchases"


@pytest.fixture
def key(org):
    return make_api_key(org)


def post(client, key, body, **headers):
    return client.post(
        PATH,
        json.dumps(body) if not isinstance(body, str) else body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()},
    )


def register(org, number="EA-4500123", limit="10000", **kwargs):
    agreement, _ = agreement_register(
        account=account_of(org), number=number, credit_limit=limit, **kwargs
    )
    return agreement


def problem_code(response) -> str:
    assert response["Content-Type"] == "application/problem+json"
    return response.json()["type"].rsplit(":", 1)[-1]


def test_a_purchase_on_a_registered_agreement(client, org, key):
    register(org, payment_terms_days=45)
    response = post(
        client,
        key,
        {"amount": "1250.00", "method": "agreement", "agreement": "EA-4500123", "po": "PO-9"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    invoice = Invoice.objects.get()
    assert body == {
        "invoice": {
            "number": "CONTOSO-000001",
            "kind": "purchase",
            "total": "1250.00",
            "currency": "USD",
            "issued_at": body["invoice"]["issued_at"],
            "due_at": invoice.due_date.isoformat(),
            "status": "due",
            "po": "PO-9",
            "period": None,
        },
        "balance": "1250.00",
    }
    assert body["invoice"]["issued_at"].endswith("Z")
    assert FundLot.objects.get().source == "agreement"
    assert account_of(org).balance == Decimal("1250")


def test_a_purchase_on_the_saved_card_off_session(client, org, key):
    save_card(org)
    response = post(client, key, {"amount": "75.50", "method": "card"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["invoice"]["status"], body["invoice"]["total"], body["invoice"]["due_at"]) == (
        "paid",
        "75.50",
        None,
    )
    assert body["balance"] == "75.50" and body["invoice"]["po"] is None
    payment = Payment.objects.get()
    assert payment.status == "succeeded"
    assert len(intents_where(payment=str(payment.code))) == 1


def test_a_declined_card_is_409_and_adds_nothing(client, org, key):
    save_card(org, DECLINED_ON_CHARGE)
    response = post(client, key, {"amount": "75.50", "method": "card"})
    assert response.status_code == 409 and problem_code(response) == "card_declined"
    assert account_of(org).balance == 0 and not FundLot.objects.exists()


def test_no_saved_card_is_409(client, org, key):
    response = post(client, key, {"amount": "50", "method": "card"})
    assert response.status_code == 409 and problem_code(response) == "no_payment_method"


def test_an_agreement_at_its_credit_limit_refuses_the_next_purchase(client, org, key):
    register(org, limit="1000")
    body = {"amount": "1000", "method": "agreement", "agreement": "EA-4500123"}
    assert post(client, key, body).status_code == 201
    response = post(client, key, {**body, "amount": "10"})
    assert response.status_code == 409 and problem_code(response) == "credit_limit_exceeded"
    assert "credit limit" in response.json()["detail"]
    assert account_of(org).balance == Decimal("1000") and Invoice.objects.count() == 1


def test_unregistered_agreements_are_409_and_another_organisations_is_not_revealed(
    client, org, other_org, key
):
    agreement_request(account=account_of(org), number="EA-REQUESTED")
    register(other_org, number="EA-THEIRS")
    answers = {}
    for number in ["EA-REQUESTED", "EA-THEIRS", "EA-NOWHERE"]:
        response = post(client, key, {"amount": "50", "method": "agreement", "agreement": number})
        assert response.status_code == 409 and problem_code(response) == "agreement_not_registered"
        answers[number] = response.json()["detail"].replace(number, "N")
    assert answers["EA-THEIRS"] == answers["EA-NOWHERE"], "no hint that it exists elsewhere"
    assert not FundLot.objects.exists() and not Invoice.objects.exists()


def test_new_commerce_is_409(client, db):
    modern = make_org("modern", commerce="new")
    response = post(client, make_api_key(modern), {"amount": "50", "method": "card"})
    assert response.status_code == 409 and problem_code(response) == "new_commerce"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "0", "method": "card"}, "amount"),
        ({"amount": "-5", "method": "card"}, "amount"),
        ({"amount": "5", "method": "card"}, "amount"),
        ({"amount": "10000.01", "method": "card"}, "amount"),
        ({"amount": "12.345", "method": "card"}, "amount"),
        ({"amount": "abc", "method": "card"}, "amount"),
        ({"amount": "NaN", "method": "card"}, "amount"),
        ({"amount": "1" * 30, "method": "card"}, "amount"),
        ({"amount": "9" * 10_000, "method": "agreement", "agreement": "EA-4500123"}, "amount"),
        ({"amount": "-1e3", "method": "card"}, "amount"),
        ({"amount": 50, "method": "card"}, "amount"),
        ({"method": "card"}, "amount"),
        ({"amount": "50", "method": "cash"}, "method"),
        ({"amount": "50", "method": "agreement"}, "agreement"),
        ({"amount": "50", "method": "agreement", "agreement": "EA-45\x00"}, "agreement"),
        ({"amount": "50", "method": "agreement", "agreement": "EA-45\ud800"}, "agreement"),
        ({"amount": "50", "method": "agreement", "agreement": "E" * 10_000}, "agreement"),
        ({"amount": "50", "method": "agreement", "agreement": ["EA-4500123"]}, "agreement"),
        ({"amount": "50", "method": "agreement", "agreement": "EA-4500123", "po": "P\x00"}, "po"),
        (
            {"amount": "50", "method": "agreement", "agreement": "EA-4500123", "po": "P\ud800"},
            "po",
        ),
        ({"amount": "50", "method": "agreement", "agreement": "EA-4500123", "po": "<b>"}, "po"),
        ({"amount": "50", "method": "card", "po": "PO-1"}, "po"),
    ],
)
def test_bad_values_are_422_naming_the_field(client, org, key, body, field):
    register(org)
    save_card(org) if body.get("method") == "card" and field == "po" else None
    response = post(client, key, body)
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"]
    assert not FundLot.objects.exists() and not Payment.objects.exists()


def test_malformed_json_is_400(client, org, key):
    assert post(client, key, "{not json").status_code == 400


def test_keys_scope_and_absence(client, org):
    body = {"amount": "50", "method": "card"}
    assert post(client, make_api_key(org, "platform"), body).status_code == 403
    assert client.post(PATH, json.dumps(body), content_type="application/json").status_code == 401


def test_the_same_idempotency_key_buys_once(client, org, key):
    register(org)
    body = {"amount": "300", "method": "agreement", "agreement": "EA-4500123"}
    first = post(client, key, body, **{"Idempotency-Key": "buy-1"})
    again = post(client, key, body, **{"Idempotency-Key": "buy-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again["Idempotent-Replayed"] == "true"
    other = post(client, key, {**body, "amount": "301"}, **{"Idempotency-Key": "buy-1"})
    assert other.status_code == 409
    assert FundLot.objects.count() == 1 and account_of(org).balance == Decimal("300")


def test_the_same_idempotency_key_charges_the_card_once(client, org, key):
    save_card(org)
    body = {"amount": "60", "method": "card"}
    first = post(client, key, body, **{"Idempotency-Key": "card-1"})
    again = post(client, key, body, **{"Idempotency-Key": "card-1"})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    payment = Payment.objects.get()
    assert len(intents_where(payment=str(payment.code))) == 1
    assert account_of(org).balance == Decimal("60")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("method", ["card", "agreement"])
def test_a_crash_after_the_charge_is_repaired_by_the_same_key(client, org, key, method):
    """The gateway's charge commits on its own, not inside the key's transaction: a server that
    dies before storing the answer (here: the stored answer lost) neither forgets the charge nor
    makes a second one when the client retries with the same key."""
    save_card(org)
    register(org)
    body = {"amount": "80", "method": method}
    if method == "agreement":
        body["agreement"] = "EA-4500123"
    with (
        mock.patch("credits_portal.api.IdempotencyKey.objects.create", side_effect=SystemExit),
        pytest.raises(SystemExit),
    ):
        post(client, key, body, **{"Idempotency-Key": "crash-1"})
    assert account_of(org).balance == Decimal("80")  # the first request's work was kept
    again = post(client, key, body, **{"Idempotency-Key": "crash-1"})
    assert again.status_code == 201, again.content
    assert FundLot.objects.count() == Invoice.objects.count() == 1
    assert account_of(org).balance == Decimal("80")
    if method == "card":
        payment = Payment.objects.get()
        assert len(intents_where(payment=str(payment.code))) == 1


def test_another_organisations_key_buys_for_its_own_organisation_only(client, org, other_org):
    register(org)
    response = post(
        client,
        make_api_key(other_org),
        {"amount": "50", "method": "agreement", "agreement": "EA-4500123"},
    )
    assert response.status_code == 409 and problem_code(response) == "agreement_not_registered"
    assert account_of(org).balance == 0 and account_of(other_org).balance == 0


def test_a_request_killed_after_the_card_charge_is_recorded_once_by_the_retry(client, org, key):
    """The gateway charged, then the process died before saving the payment's id: the retry with
    the same Idempotency-Key finds that charge (not a 503 forever) and adds the funds once."""
    from billing.services import payments

    save_card(org)
    body = {"amount": "80", "method": "card"}
    with (
        mock.patch.object(payments, "payment_id_save", side_effect=SystemExit),
        pytest.raises(SystemExit),
    ):
        post(client, key, body, **{"Idempotency-Key": "killed-1"})
    assert account_of(org).balance == 0 and Payment.objects.get().status == "charging"
    again = post(client, key, body, **{"Idempotency-Key": "killed-1"})
    assert again.status_code == 201, again.content
    assert post(client, key, body, **{"Idempotency-Key": "killed-1"}).json() == again.json()
    payment = Payment.objects.get()
    assert len(intents_where(payment=str(payment.code))) == 1
    assert FundLot.objects.count() == Invoice.objects.count() == 1
    assert account_of(org).balance == Decimal("80")


def test_a_card_purchase_is_charged_off_session(client, org, key):
    """API.md: the saved card, off-session (no cardholder is there: Stripe then answers a card
    that needs authentication with a decline). localstripe ignores the flag, so the gateway call
    is watched (the real call still runs)."""
    from billing.gateway.stripe_gateway import StripeGateway

    save_card(org)
    real = StripeGateway.charge_create
    with mock.patch.object(StripeGateway, "charge_create", autospec=True, side_effect=real) as spy:
        response = post(client, key, {"amount": "75.50", "method": "card"})
    assert response.status_code == 201, response.content
    assert spy.call_args.kwargs["off_session"] is True
    assert account_of(org).balance == Decimal("75.50")
