from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import RechargeAttempt
from tests.billing.recharge_helpers import save_card, spend
from tests.builders import account_of, grant, make_api_key

pytestmark = pytest.mark.django_db
URL = "/api/v1/account/auto-recharge"


def put(client, org, body, scope="admin"):
    return client.put(
        URL,
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {make_api_key(org, scope)}",
    )


def test_turn_on_with_a_saved_card(client, org):
    save_card(org)
    response = put(
        client, org, {"enabled": True, "trigger_amount": "20", "recharge_amount": "50.5"}
    )
    assert response.status_code == 200
    # The balance (0) is under the new trigger: the PUT queued a recharge and says so.
    assert response.json() == {
        "enabled": True,
        "trigger_amount": "20.00",
        "recharge_amount": "50.50",
        "charge_now": {"amount": "70.50", "currency": "USD", "method": "card", "status": "queued"},
    }
    assert client.get("/api/v1/account", HTTP_AUTHORIZATION=f"Bearer {make_api_key(org)}").json()[
        "auto_recharge"
    ] == {"enabled": True, "trigger_amount": "20.00", "recharge_amount": "50.50"}


def test_without_a_payment_method_it_is_409(client, org):
    response = put(client, org, {"enabled": True, "trigger_amount": "20", "recharge_amount": "50"})
    assert response.status_code == 409 and response["Content-Type"] == "application/problem+json"
    assert account_of(org).auto_recharge_enabled is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"enabled": True, "trigger_amount": "-1", "recharge_amount": "50"}, "trigger_amount"),
        ({"enabled": True, "trigger_amount": "20", "recharge_amount": "0"}, "recharge_amount"),
        ({"enabled": True, "trigger_amount": "20", "recharge_amount": "50.123"}, "recharge_amount"),
        ({"enabled": True, "trigger_amount": "20", "recharge_amount": "2"}, "recharge_amount"),
        ({"enabled": "maybe", "trigger_amount": "20", "recharge_amount": "50"}, "enabled"),
        ({"trigger_amount": "20", "recharge_amount": "50"}, "enabled"),
        ({"enabled": True, "trigger_amount": "1" * 30, "recharge_amount": "50"}, "trigger_amount"),
        (
            {"enabled": True, "trigger_amount": "20", "recharge_amount": "9" * 10_000},
            "recharge_amount",
        ),
        ({"enabled": True, "trigger_amount": "2\x000", "recharge_amount": "50"}, "trigger_amount"),
        (
            {"enabled": True, "trigger_amount": "20", "recharge_amount": "5\ud800"},
            "recharge_amount",
        ),
        (
            {"enabled": True, "trigger_amount": "Infinity", "recharge_amount": "50"},
            "trigger_amount",
        ),
        ({"enabled": True, "trigger_amount": 20, "recharge_amount": "50"}, "trigger_amount"),
        ({"enabled": True, "trigger_amount": "20", "recharge_amount": None}, "recharge_amount"),
    ],
)
def test_bad_values_are_422_naming_the_field(client, org, body, field):
    save_card(org)
    response = put(client, org, body)
    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert account_of(org).recharge_amount is None


def test_a_platform_key_cannot_change_it(client, org):
    response = put(
        client, org, {"enabled": False, "trigger_amount": "20", "recharge_amount": "50"}, "platform"
    )
    assert response.status_code == 403


def test_the_response_states_what_it_charged_now(client, org, django_capture_on_commit_callbacks):
    """The issue's example: 3,125.35 charged for a "recharge amount" of 100 is stated, not hidden."""
    save_card(org)
    grant(org, "2000")
    spend(org, "25.35", "call-1")
    with django_capture_on_commit_callbacks(execute=True):
        response = put(
            client, org, {"enabled": True, "trigger_amount": "5000", "recharge_amount": "100"}
        )
    assert response.status_code == 200
    assert response.json() == {
        "enabled": True,
        "trigger_amount": "5000.00",
        "recharge_amount": "100.00",
        "charge_now": {
            "amount": "3125.35",
            "currency": "USD",
            "method": "card",
            "status": "queued",
        },
    }
    attempt = RechargeAttempt.objects.get()
    assert attempt.amount == Decimal("3125.35") and account_of(org).balance == Decimal("5100.00")


def test_a_put_that_charges_nothing_says_so(client, org):
    save_card(org)
    grant(org, "100")
    on = put(client, org, {"enabled": True, "trigger_amount": "20", "recharge_amount": "50"})
    off = put(client, org, {"enabled": False, "trigger_amount": "500", "recharge_amount": "50"})
    assert on.json()["charge_now"] is None and off.json()["charge_now"] is None
    assert not RechargeAttempt.objects.exists()
