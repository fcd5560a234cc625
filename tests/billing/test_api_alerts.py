"""`GET`/`PUT /api/v1/account/alerts`: the same settings as Settings › Alerts, scoped by the key's
organisation; hostile bodies are a 422 naming the field."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core import mail

from billing.services.balance_alerts import alert_settings, alert_settings_save
from billing.services.contacts import billing_contact_add
from credits_portal.models import AuditEvent
from tests.builders import account_of, grant, make_api_key, make_org

pytestmark = pytest.mark.django_db
URL = "/api/v1/account/alerts"


def call(client, org, method="put", body=None, scope="admin", raw=None):
    return getattr(client, method)(
        URL,
        raw if raw is not None else (json.dumps(body) if body is not None else None),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {make_api_key(org, scope)}",
    )


def test_put_then_get(client, org, django_capture_on_commit_callbacks):
    billing_contact_add(organisation=org, email="ap@contoso.example")
    grant(org, "50.00")
    with django_capture_on_commit_callbacks(execute=True):
        response = call(client, org, body={"low_balance": ["100.00", "20.00"], "runway_days": 7})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["currency"] == "USD"
    assert body["low_balance"] == ["100.00", "20.00"] and body["runway_days"] == 7
    states = {(a["type"], a["threshold"]): a["state"] for a in body["alerts"]}
    assert states == {
        ("balance.low", "100.00"): "sent",  # 50.00 is below it already: it fired on save
        ("balance.low", "20.00"): "watching",
        ("runway.low", "7"): "watching",
    }
    assert [m.subject for m in mail.outbox] == ["Communications Credits balance below 100.00 USD"]
    assert call(client, org, "get").json() == body
    assert AuditEvent.objects.filter(organisation=org, action="alerts.changed").exists()


def test_a_field_left_out_stays_as_it_is_and_an_empty_list_clears(client, org):
    call(client, org, body={"low_balance": ["20"], "runway_days": 3})
    assert call(client, org, body={"runway_days": None}).json()["low_balance"] == ["20.00"]
    assert call(client, org, body={"low_balance": []}).json() == {
        "currency": "USD",
        "low_balance": [],
        "runway_days": None,
        "alerts": [],
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"low_balance": ["20\x00"]}, "low_balance.0"),
        ({"low_balance": ["9" * 10_000]}, "low_balance.0"),
        ({"low_balance": ["-20"]}, "low_balance"),
        ({"low_balance": ["20.001"]}, "low_balance"),
        ({"low_balance": ["20", "20.00"]}, "low_balance"),
        ({"low_balance": ["1"] * 10_000}, "low_balance"),
        ({"low_balance": [20]}, "low_balance.0"),
        ({"low_balance": "20"}, "low_balance"),
        ({"low_balance": None}, "low_balance"),
        ({"low_balance": ["1e309"]}, "low_balance"),
        ({"runway_days": 0}, "runway_days"),
        ({"runway_days": -7}, "runway_days"),
        ({"runway_days": 2**63}, "runway_days"),
        ({"runway_days": 7.5}, "runway_days"),
        ({"runway_days": "7"}, "runway_days"),
        ({"runway_days": True}, "runway_days"),
    ],
)
def test_hostile_bodies_are_422_naming_the_field(client, org, body, field):
    response = call(client, org, body=body)
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"], response.json()
    assert alert_settings(account_of(org)).runway_days == 7  # unchanged


def test_malformed_json_is_400(client, org):
    assert call(client, org, raw="{").status_code == 400


def test_new_commerce_is_409(client, db):
    newco = make_org("newco", commerce="new")
    response = call(client, newco, body={"low_balance": ["20"]})
    assert response.status_code == 409 and response.json()["type"].endswith("new_commerce")


def test_scoped_by_the_key(client, org, other_org):
    alert_settings_save(account=account_of(other_org), low_balance=["77.77"], runway_days=None)
    assert call(client, org, "get").json()["low_balance"] == []
    call(client, org, body={"low_balance": ["5"]})
    assert alert_settings(account_of(other_org)).low_balance == [Decimal("77.77")]
    assert call(client, other_org, "get").json()["low_balance"] == ["77.77"]


def test_keys_and_scopes(client, org):
    assert client.get(URL).status_code == 401
    assert call(client, org, "get", scope="platform").status_code == 403
    assert call(client, org, body={"low_balance": []}, scope="platform").status_code == 403
    assert alert_settings(account_of(org)).runway_days == 7
