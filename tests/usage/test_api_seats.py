"""`GET /api/v1/subscriptions` with prices and renewal; `POST /api/v1/subscriptions/{sku}/seats`."""

from __future__ import annotations

import json

import pytest
import time_machine

from billing.models import Invoice
from licensing.models import Subscription
from licensing.services import Change, license_change
from tests.billing.recharge_helpers import save_card
from tests.builders import make_api_key, make_user, seats
from tests.usage.seat_helpers import at, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(org):
    return make_api_key(org)


def post(client, key, sku, body, **headers):
    return client.post(
        f"/api/v1/subscriptions/{sku}/seats",
        body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()},
    )


def problem_code(response) -> str:
    return response.json()["type"].rsplit(":", 1)[-1]


def test_subscriptions_list_prices_and_the_next_renewal(client, org, key):
    seats(org, PHONE_SYSTEM=3)
    with time_machine.travel(at("2026-11-21T10:00"), tick=False):
        response = client.get("/api/v1/subscriptions", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    phone = next(s for s in response.json() if s["sku"] == "PHONE_SYSTEM")
    assert phone == {
        "sku": "PHONE_SYSTEM",
        "name": "Phone System",
        "seats": 3,
        "assigned": 0,
        "price": "8.00",
        "currency": "USD",
        "renews_at": "2026-12-01T00:00:00Z",
    }


def test_adding_seats_answers_the_subscription_and_its_invoice_once_per_key(client, org, key):
    save_card(org)
    with time_machine.travel(at("2026-11-21T10:00"), tick=False):
        first = post(client, key, "PHONE_SYSTEM", {"add": 3}, idempotency_key="k1")
        again = post(client, key, "PHONE_SYSTEM", {"add": 3}, idempotency_key="k1")
    assert first.status_code == again.status_code == 200, first.content
    assert first.json() == again.json()
    body = first.json()
    assert body["subscription"]["seats"] == 3
    assert body["invoice"]["kind"] == "seats"
    assert (body["invoice"]["total"], body["invoice"]["status"]) == ("8.01", "paid")
    assert Invoice.objects.count() == 1


def test_adding_on_a_named_registered_agreement(client, org, key):
    register(org)
    response = post(client, key, "e5", {"add": 1, "agreement": "EA-4500123"})
    assert response.status_code == 200, response.content
    assert response.json()["invoice"]["status"] == "due"


def test_another_organisations_agreement_is_409(client, org, other_org, key):
    register(other_org, number="EA-9000001")
    save_card(org)
    response = post(client, key, "PHONE_SYSTEM", {"add": 1, "agreement": "EA-9000001"})
    assert response.status_code == 409
    assert problem_code(response) == "agreement_not_registered"
    assert not Subscription.objects.filter(organisation=org).exists()


def test_nothing_to_pay_with_is_409(client, org, key):
    response = post(client, key, "PHONE_SYSTEM", {"add": 1})
    assert response.status_code == 409
    assert problem_code(response) == "no_payment_method"


def test_releasing_assigned_seats_is_409_and_unassigned_ones_200(client, org, key):
    seats(org, PHONE_SYSTEM=3)
    user = make_user(org)
    license_change(
        organisation=org, changes=[Change(user, {"PHONE_SYSTEM"})], actor="t", source="t"
    )
    refused = post(client, key, "PHONE_SYSTEM", {"release": 3})
    assert refused.status_code == 409
    released = post(client, key, "PHONE_SYSTEM", {"release": 2})
    assert released.status_code == 200
    assert released.json() == {
        "subscription": {**released.json()["subscription"], "seats": 3, "assigned": 1},
        "invoice": None,
    }
    assert Subscription.objects.get(organisation=org).releasing == 2


def test_releasing_a_license_not_held_is_404(client, org, other_org, key):
    seats(other_org, AUDIO_CONF=2)  # theirs, not ours
    assert post(client, key, "AUDIO_CONF", {"release": 1}).status_code == 404
    assert post(client, key, "NOT_A_SKU", {"add": 1}).status_code == 404
    assert Subscription.objects.get(organisation=other_org).releasing == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ({"add": "3"}, "add"),
        ({"add": 2.5}, "add"),
        ({"add": 3.0}, "add"),
        ({"add": True}, "add"),
        ({"add": 0}, "add"),
        ({"add": -4}, "add"),
        ({"add": 10**30}, "add"),
        ({"add": None}, "release"),
        ({"release": "1"}, "release"),
        ({"release": -1}, "release"),
        ({"release": 0}, "release"),
        ({"release": 10**12}, "release"),
        ({"release": False}, "release"),
        ({"add": 1, "release": 1}, "add"),
        ({}, "release"),
        ({"add": 1, "agreement": "EA\x00123"}, "agreement"),
        ({"add": 1, "agreement": "E" * 10_000}, "agreement"),
        ({"release": 1, "agreement": "EA-4500123"}, "agreement"),
    ],
)
def test_a_count_that_is_not_a_positive_whole_number_is_422_naming_it(
    client, org, key, body, field
):
    seats(org, PHONE_SYSTEM=2)
    response = post(client, key, "PHONE_SYSTEM", body)
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"], response.json()
    held = Subscription.objects.get(organisation=org)
    assert (held.seats, held.releasing) == (2, 0)
    assert not Invoice.objects.exists()


def test_without_seats_held_a_release_is_404(client, org, key):
    assert post(client, key, "PHONE_SYSTEM", {}).status_code == 404
    assert post(client, key, "PHONE_SYSTEM", {"release": 1}).status_code == 404


def test_a_hostile_sku_is_a_4xx(client, org, key):
    assert post(client, key, "PHONE%00SYSTEM", {"add": 1}).status_code == 422
    assert post(client, key, "X" * 10_000, {"add": 1}).status_code in (404, 422)


def test_the_platform_scope_may_not_buy_seats(client, org):
    platform = make_api_key(org, "platform")
    assert post(client, platform, "PHONE_SYSTEM", {"add": 1}).status_code == 403
