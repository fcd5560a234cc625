from __future__ import annotations

import json

import pytest

from licensing.models import DirectoryUser
from tests.builders import make_api_key, make_user, seats

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, org):
    key = make_api_key(org)

    def call(method: str, path: str, body=None, **headers):
        return client.generic(
            method,
            f"/api/v1{path}",
            b"" if body is None else json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
            **headers,
        )

    return call


def test_create_then_update_a_user(api, org):
    body = {
        "upn": "Ana@Contoso.example",
        "display_name": "Ana Kim",
        "usage_location": "us",
        "phone_number": "+14255550100",
    }
    created = api("POST", "/users", body)
    assert created.status_code == 201
    assert created.json() == {
        "upn": "ana@contoso.example",
        "display_name": "Ana Kim",
        "usage_location": "US",
        "phone_number": "+14255550100",
        "licenses": [],
    }
    updated = api("POST", "/users", {**body, "display_name": "Ana Park"})
    assert updated.status_code == 200 and updated.json()["display_name"] == "Ana Park"
    assert DirectoryUser.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"upn": "nope", "display_name": "X", "usage_location": "US"}, {"upn"}),
        (
            {
                "upn": "a@x.example",
                "display_name": "",
                "usage_location": "XX",
                "phone_number": "425",
            },
            {"display_name", "usage_location", "phone_number"},
        ),
        ({"upn": "a@x.example", "display_name": "A"}, {"usage_location"}),
    ],
)
def test_bad_users_are_422_per_field(api, org, body, fields):
    response = api("POST", "/users", body)
    assert response.status_code == 422 and set(response.json()["errors"]) == fields
    assert not DirectoryUser.objects.exists()


def test_list_users_with_a_cursor(api, org, other_org):
    for n in range(5):
        make_user(org, f"u{n}@contoso.example")
    make_user(other_org, "hidden@fabrikam.example")
    first = api("GET", "/users?limit=3").json()
    assert [u["upn"] for u in first["users"]] == [
        "u0@contoso.example",
        "u1@contoso.example",
        "u2@contoso.example",
    ]
    rest = api("GET", f"/users?limit=3&cursor={first['next_cursor']}").json()
    assert [u["upn"] for u in rest["users"]] == [
        "u3@contoso.example",
        "u4@contoso.example",
    ] and rest["next_cursor"] is None


def test_assign_and_remove_licenses(api, org):
    seats(org, PHONE_SYSTEM=1, CALLING_DOMESTIC=1)
    make_user(org, "ana@contoso.example")
    response = api(
        "POST",
        "/users/ana@contoso.example/licenses",
        {"assign": ["PHONE_SYSTEM", "calling_domestic"], "remove": []},
    )
    assert response.status_code == 200
    assert response.json() == {
        "upn": "ana@contoso.example",
        "licenses": ["CALLING_DOMESTIC", "PHONE_SYSTEM"],
    }
    assert api("GET", "/users/ana@contoso.example/licenses").json()["licenses"] == [
        "CALLING_DOMESTIC",
        "PHONE_SYSTEM",
    ]
    assert api("GET", "/subscriptions").json()[1] == {
        "sku": "PHONE_SYSTEM",
        "name": "Phone System",
        "seats": 1,
        "assigned": 1,
        "price": "8.00",
        "currency": "USD",
        "renews_at": api("GET", "/subscriptions").json()[1]["renews_at"],
    }


def test_refusals_are_409_and_unknown_skus_422(api, org):
    seats(org, PHONE_SYSTEM=1, CALLING_DOMESTIC=1)
    make_user(org, "ana@contoso.example")
    make_user(org, "ben@contoso.example")
    missing = api("POST", "/users/ana@contoso.example/licenses", {"assign": ["CALLING_DOMESTIC"]})
    assert missing.status_code == 409 and "needs Phone System" in missing.json()["detail"]
    api(
        "POST",
        "/users/ana@contoso.example/licenses",
        {"assign": ["PHONE_SYSTEM", "CALLING_DOMESTIC"]},
    )
    still_needed = api("POST", "/users/ana@contoso.example/licenses", {"remove": ["PHONE_SYSTEM"]})
    assert still_needed.status_code == 409 and "cannot be removed" in still_needed.json()["detail"]
    no_seats = api("POST", "/users/ben@contoso.example/licenses", {"assign": ["PHONE_SYSTEM"]})
    assert no_seats.status_code == 409 and "seats left" in no_seats.json()["detail"]
    unknown = api("POST", "/users/ben@contoso.example/licenses", {"assign": ["BOGUS"]})
    assert unknown.status_code == 422
    assert (
        api(
            "POST", "/users/nobody@contoso.example/licenses", {"assign": ["PHONE_SYSTEM"]}
        ).status_code
        == 404
    )


def test_an_idempotency_key_assigns_once(api, org):
    seats(org, AUDIO_CONF=5)
    make_user(org, "ana@contoso.example")
    body = {"assign": ["AUDIO_CONF"]}
    first = api("POST", "/users/ana@contoso.example/licenses", body, HTTP_IDEMPOTENCY_KEY="k1")
    again = api("POST", "/users/ana@contoso.example/licenses", body, HTTP_IDEMPOTENCY_KEY="k1")
    assert first.json() == again.json() and again["Idempotent-Replayed"] == "true"
    other = api(
        "POST",
        "/users/ana@contoso.example/licenses",
        {"remove": ["AUDIO_CONF"]},
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert other.status_code == 409


USER = {"upn": "ana@contoso.example", "display_name": "Ana Kim", "usage_location": "US"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**USER, "upn": "a" * 250 + "@contoso.example"}, "upn"),
        ({**USER, "display_name": "Ana\x00Kim"}, "display_name"),
        ({**USER, "display_name": "Ana\ud800"}, "display_name"),
        ({**USER, "display_name": "A" * 201}, "display_name"),
        ({**USER, "upn": ["ana@contoso.example"]}, "upn"),
        ({**USER, "phone_number": "+1425\x00"}, "phone_number"),
        ({**USER, "usage_location": {"code": "US"}}, "usage_location"),
    ],
)
def test_a_hostile_user_is_422_naming_the_field(api, body, field):
    """Issue 14, finding 3: a UPN over 254 characters or a NUL display name answered 500."""
    response = api("POST", "/users", body)
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"]
    assert not DirectoryUser.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/users/%00/licenses",
        "/users/ana%00@contoso.example/licenses",
        "/users?q=%00",
        "/users?cursor=AA==",  # base64 of NUL
        "/users?cursor=" + "QQ" * 2000,
        "/users?%00=1",
    ],
)
def test_hostile_paths_and_queries_are_422(api, path):
    response = api("GET", path)
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"


def test_a_platform_keys_403_is_not_replayed_to_an_admin_key(client, org):
    """Issue 14, finding 7, on the endpoint it was found on."""

    def create(key: str):
        return client.post(
            "/api/v1/users",
            USER,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
            HTTP_IDEMPOTENCY_KEY="K",
        )

    assert create(make_api_key(org, "platform")).status_code == 403
    admin = create(make_api_key(org, "admin"))
    assert admin.status_code == 201 and "Idempotent-Replayed" not in admin
    assert DirectoryUser.objects.filter(upn="ana@contoso.example").exists()
