from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.services.ledger import funds_debit
from tests.builders import account_of, grant, make_api_key

pytestmark = pytest.mark.django_db


def get(client, org, path, **params):
    return client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {make_api_key(org)}")


def test_account_shows_balance_settings_and_lots_oldest_first(client, org):
    old = grant(org, "40.00", purchased_at=timezone.now() - timedelta(days=100))
    new = grant(org, "10.00")
    funds_debit(account=account_of(org), amount=Decimal("15.5"), reference="c1")
    body = get(client, org, "/api/v1/account").json()
    assert body["organisation"] == "contoso" and body["currency"] == "USD"
    assert (body["balance"], body["available"], body["commerce"]) == ("34.50", "34.50", "legacy")
    assert body["auto_recharge"] == {
        "enabled": False,
        "trigger_amount": None,
        "recharge_amount": None,
    }
    assert [(lot["id"], lot["amount"], lot["remaining"]) for lot in body["lots"]] == [
        (str(old.code), "40.00", "24.50"),
        (str(new.code), "10.00", "10.00"),
    ]
    assert body["lots"][0]["source"] == "grant" and body["lots"][0]["expires_at"].endswith("Z")


def test_ledger_pages_newest_first_with_a_cursor(client, org):
    grant(org, "100")
    for n in range(5):
        funds_debit(account=account_of(org), amount=Decimal("1.25"), reference=f"call-{n}")
    first = get(client, org, "/api/v1/ledger", limit=4).json()
    assert [e["reference"] for e in first["entries"]] == ["call-4", "call-3", "call-2", "call-1"]
    assert (
        first["entries"][0]["amount"] == "-1.25" and first["entries"][0]["balance_after"] == "93.75"
    )
    second = get(client, org, "/api/v1/ledger", limit=4, cursor=first["next_cursor"]).json()
    assert [e["kind"] for e in second["entries"]] == ["usage", "adjustment"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [({"cursor": "!!!"}, "cursor"), ({"limit": 0}, "limit"), ({"limit": "x"}, "limit")],
)
def test_bad_ledger_parameters_are_422(client, org, params, field):
    response = get(client, org, "/api/v1/ledger", **params)
    assert response.status_code == 422 and field in response.json()["errors"]


def test_each_key_sees_only_its_organisation(client, org, other_org):
    grant(other_org, "99")
    assert get(client, org, "/api/v1/account").json()["balance"] == "0.00"
    assert get(client, org, "/api/v1/ledger").json()["entries"] == []
