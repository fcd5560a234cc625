"""A 422 names every invalid field of the body, not only the first one checked (issue 17).

`errors` holds each invalid field with its messages (API.md's `{field: [messages]}`) and
`detail` names them all in one line; a single invalid field reads as before.
"""

from __future__ import annotations

import json

import pytest

from tests.builders import make_api_key, make_user, seats

pytestmark = pytest.mark.django_db


@pytest.fixture
def send(client, org):
    keys = {"admin": make_api_key(org, "admin"), "platform": make_api_key(org, "platform")}

    def send(method: str, path: str, body: dict, scope: str = "admin"):
        response = getattr(client, method)(
            f"/api/v1{path}",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {keys[scope]}",
        )
        assert response.status_code == 422, response.content
        assert response["Content-Type"] == "application/problem+json"
        return response.json()

    return send


def names_all(problem: dict, fields: set[str]) -> None:
    assert set(problem["errors"]) == fields, problem
    assert all(problem["errors"][field] for field in fields)
    for field in fields:
        assert f"{field}: " in problem["detail"], problem["detail"]


def test_authorize_names_three_invalid_fields(send):
    problem = send(
        "post",
        "/calls/authorize",
        {"user": "a" * 300, "type": "inbound", "to": "+1", "from": "0800"},
        scope="platform",
    )
    names_all(problem, {"user", "type", "to", "from"})
    assert problem["errors"]["to"] == ["'+1' is not an E.164 number."]


def test_one_invalid_field_reads_as_before(send):
    problem = send(
        "post",
        "/calls/authorize",
        {"user": "ana@contoso.example", "type": "outbound", "to": "+1"},
        scope="platform",
    )
    assert problem["errors"] == {"to": ["'+1' is not an E.164 number."]}


def test_a_purchase_names_amount_agreement_and_po(send):
    problem = send(
        "post",
        "/account/purchases",
        {"amount": "lots", "method": "agreement", "agreement": "x", "po": "<po>"},
    )
    names_all(problem, {"amount", "agreement", "po"})


def test_a_card_purchase_names_amount_agreement_and_po(send):
    problem = send(
        "post",
        "/account/purchases",
        {"amount": "-5", "method": "card", "agreement": "EA-4500123", "po": "PO-1"},
    )
    names_all(problem, {"amount", "agreement", "po"})


def test_auto_recharge_names_both_amounts(send):
    problem = send(
        "put",
        "/account/auto-recharge",
        {"enabled": False, "trigger_amount": "-1", "recharge_amount": "ten"},
    )
    names_all(problem, {"trigger_amount", "recharge_amount"})


def test_a_user_names_three_invalid_fields(send):
    problem = send(
        "post",
        "/users",
        {"upn": "not a upn", "display_name": "Ana", "usage_location": "ZZ", "phone_number": "12"},
    )
    names_all(problem, {"upn", "usage_location", "phone_number"})


def test_licenses_name_assign_and_remove(send, org):
    make_user(org, "ana@contoso.example")
    problem = send(
        "post", "/users/ana@contoso.example/licenses", {"assign": ["NOPE"], "remove": ["GONE"]}
    )
    names_all(problem, {"assign", "remove"})
    assert "NOPE" in problem["errors"]["assign"][0] and "GONE" in problem["errors"]["remove"][0]


def test_a_seat_release_names_release_and_agreement(send, org):
    seats(org, PHONE_SYSTEM=5)
    problem = send(
        "post", "/subscriptions/PHONE_SYSTEM/seats", {"release": 0, "agreement": "EA-4500123"}
    )
    names_all(problem, {"release", "agreement"})


def test_pydantic_errors_name_every_field_too(send):
    problem = send(
        "put",
        "/account/auto-recharge",
        {"enabled": "maybe", "trigger_amount": 5, "recharge_amount": None},
    )
    names_all(problem, {"enabled", "trigger_amount", "recharge_amount"})
