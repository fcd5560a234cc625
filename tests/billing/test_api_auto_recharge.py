from __future__ import annotations

import pytest

from tests.billing.recharge_helpers import save_card
from tests.builders import account_of, make_api_key

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
    assert response.json() == {
        "enabled": True,
        "trigger_amount": "20.00",
        "recharge_amount": "50.50",
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
