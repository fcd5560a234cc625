"""Issue 19, item 3: GET|PUT /api/v1/account/fraud-guards: the guards as stated and replaced, a
4xx naming the field for every hostile value (nothing saved), scopes and tenancy."""

from __future__ import annotations

import json

import pytest

from credits_portal.models import AuditEvent
from tests.builders import make_api_key
from usage.models import FraudGuard
from usage.services.fraud_guards import DEFAULT_BLOCKED, guard_for

pytestmark = pytest.mark.django_db
PATH = "/api/v1/account/fraud-guards"
VALID = {
    "max_rate_per_minute": "0.5000",
    "blocked_prefixes": ["+882", "cu", "+882", " +4470 "],
    "max_call_seconds": {"outbound": 3600, "toll_free_dial_in": None},
}


def call(client, key, method="get", body=None, raw=None):
    data = raw if raw is not None else json.dumps(body) if body is not None else ""
    return getattr(client, method)(
        PATH, data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )


@pytest.fixture
def admin(org):
    return make_api_key(org, "admin")


def stored(organisation) -> tuple:
    guard = FraudGuard.objects.get(organisation=organisation)
    return (
        guard.max_rate_per_minute,
        guard.blocked_prefixes,
        guard.max_seconds_outbound,
        guard.max_seconds_conference_dial_out,
        guard.max_seconds_toll_free_dial_in,
    )


def test_get_states_the_defaults(client, admin):
    response = call(client, admin)
    assert response.status_code == 200
    assert response.json() == {
        "max_rate_per_minute": "1.0000",
        "currency": "USD",
        "blocked_prefixes": list(DEFAULT_BLOCKED),
        "max_call_seconds": {
            "outbound": None,
            "conference_dial_out": None,
            "toll_free_dial_in": None,
        },
    }


def test_put_replaces_every_guard_and_authorization_applies_them(client, admin, org):
    response = call(client, admin, "put", VALID)
    assert response.status_code == 200, response.content
    expected = {
        "max_rate_per_minute": "0.5000",
        "currency": "USD",
        "blocked_prefixes": ["+882", "CU", "+4470"],  # countries upper-cased, repeats once
        "max_call_seconds": {
            "outbound": 3600,
            "conference_dial_out": None,
            "toll_free_dial_in": None,
        },
    }
    assert response.json() == expected
    assert call(client, admin).json() == expected
    guard = guard_for(org)
    assert guard.refusal("+447012345678", 0) == "destination_blocked"
    assert guard.longest("outbound", "+14255550100") == 3600
    event = AuditEvent.objects.get(action="fraud_guards.changed")
    assert event.before["blocked_prefixes"] == list(DEFAULT_BLOCKED)
    assert event.after == expected
    # Null rate and an empty list: no guard of those kinds.
    body = {"max_rate_per_minute": None, "blocked_prefixes": [], "max_call_seconds": {}}
    assert call(client, admin, "put", body).json()["blocked_prefixes"] == []
    assert stored(org) == (None, [], None, None, None)


HUGE_LIST = ["+1"] * 501
BAD = [
    ({"max_rate_per_minute": "\x00"}, "max_rate_per_minute"),
    ({"max_rate_per_minute": "\ud800"}, "max_rate_per_minute"),
    ({"max_rate_per_minute": "9" * 10_000}, "max_rate_per_minute"),
    ({"max_rate_per_minute": 0.5}, "max_rate_per_minute"),  # money is a string, never a float
    ({"max_rate_per_minute": 1}, "max_rate_per_minute"),
    ({"max_rate_per_minute": True}, "max_rate_per_minute"),
    ({"max_rate_per_minute": ["1"]}, "max_rate_per_minute"),
    ({"max_rate_per_minute": "-1"}, "max_rate_per_minute"),
    ({"max_rate_per_minute": "10000"}, "max_rate_per_minute"),
    ({"max_rate_per_minute": "0.00001"}, "max_rate_per_minute"),
    ({"max_rate_per_minute": "1e3"}, "max_rate_per_minute"),
    ({"max_rate_per_minute": "NaN"}, "max_rate_per_minute"),
    ({"max_rate_per_minute": ""}, "max_rate_per_minute"),
    ({"blocked_prefixes": "+882"}, "blocked_prefixes"),
    ({"blocked_prefixes": None}, "blocked_prefixes"),
    ({"blocked_prefixes": {"+882": 1}}, "blocked_prefixes"),
    ({"blocked_prefixes": HUGE_LIST}, "blocked_prefixes"),
    ({"blocked_prefixes": ["+88\x00"]}, "blocked_prefixes.0"),
    ({"blocked_prefixes": ["\ud800"]}, "blocked_prefixes.0"),
    ({"blocked_prefixes": ["x" * 10_000]}, "blocked_prefixes.0"),
    ({"blocked_prefixes": [882]}, "blocked_prefixes.0"),
    ({"blocked_prefixes": [None]}, "blocked_prefixes.0"),
    ({"blocked_prefixes": ["CU", "882"]}, "blocked_prefixes"),  # no +
    ({"blocked_prefixes": ["+0"]}, "blocked_prefixes"),
    ({"blocked_prefixes": ["+"]}, "blocked_prefixes"),
    ({"blocked_prefixes": ["+1234567890123456"]}, "blocked_prefixes.0"),  # 17 characters
    ({"blocked_prefixes": ["+012345678901234"]}, "blocked_prefixes"),
    ({"blocked_prefixes": ["+44 20"]}, "blocked_prefixes"),
    ({"blocked_prefixes": ["ZZ"]}, "blocked_prefixes"),
    ({"blocked_prefixes": ["Cuba"]}, "blocked_prefixes"),
    ({"blocked_prefixes": ["ÇU"]}, "blocked_prefixes"),
    ({"blocked_prefixes": [""]}, "blocked_prefixes"),
    ({"max_call_seconds": None}, "max_call_seconds"),
    ({"max_call_seconds": []}, "max_call_seconds"),
    ({"max_call_seconds": 3600}, "max_call_seconds"),
    ({"max_call_seconds": {"outbound": -1}}, "max_call_seconds.outbound"),
    ({"max_call_seconds": {"outbound": 0}}, "max_call_seconds.outbound"),
    ({"max_call_seconds": {"outbound": 59}}, "max_call_seconds.outbound"),
    ({"max_call_seconds": {"outbound": 86_401}}, "max_call_seconds.outbound"),
    ({"max_call_seconds": {"outbound": 2**63}}, "max_call_seconds.outbound"),
    ({"max_call_seconds": {"outbound": 10**400}}, "max_call_seconds.outbound"),
    ({"max_call_seconds": {"outbound": "3600"}}, "max_call_seconds.outbound"),
    ({"max_call_seconds": {"outbound": 3600.5}}, "max_call_seconds.outbound"),
    ({"max_call_seconds": {"outbound": True}}, "max_call_seconds.outbound"),
    ({"max_call_seconds": {"conference_dial_out": "\x00"}}, "max_call_seconds.conference_dial_out"),
    ({"max_call_seconds": {"sms": 60}}, "max_call_seconds.sms"),
]


@pytest.mark.parametrize(
    ("change", "field"), BAD, ids=[f"{f}-{i}" for i, (_c, f) in enumerate(BAD)]
)
def test_hostile_values_are_422_naming_the_field_and_change_nothing(
    client, admin, org, change, field
):
    before = stored(org)
    response = call(client, admin, "put", {**VALID, **change})
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert field in problem["errors"], problem
    assert len(problem["detail"]) < 2_000  # a hostile value is not echoed back whole
    assert stored(org) == before


def test_every_invalid_field_is_named_at_once(client, admin, org):
    body = {
        "max_rate_per_minute": "-1",
        "blocked_prefixes": ["+0", "QQ"],
        "max_call_seconds": {"outbound": 30, "toll_free_dial_in": 100_000},
    }
    problem = call(client, admin, "put", body).json()
    assert set(problem["errors"]) == {
        "max_rate_per_minute",
        "blocked_prefixes",
        "max_call_seconds.outbound",
        "max_call_seconds.toll_free_dial_in",
    }
    assert "'+0'" in problem["errors"]["blocked_prefixes"][0]
    assert "'QQ'" in problem["errors"]["blocked_prefixes"][0]


@pytest.mark.parametrize("missing", ["max_rate_per_minute", "blocked_prefixes", "max_call_seconds"])
def test_a_put_names_each_missing_field(client, admin, missing):
    body = {k: v for k, v in VALID.items() if k != missing}
    response = call(client, admin, "put", body)
    assert response.status_code == 422 and missing in response.json()["errors"]


@pytest.mark.parametrize("raw", ["", "{", "nul\x00", '"\\ud800"', "[" * 10_000, "1e309", "[]"])
def test_a_body_that_is_not_an_object_is_a_4xx(client, admin, org, raw):
    before = stored(org)
    response = call(client, admin, "put", raw=raw)
    assert 400 <= response.status_code < 500
    assert stored(org) == before


def test_a_huge_body_is_refused(client, admin, org):
    response = call(client, admin, "put", {**VALID, "blocked_prefixes": ["+882"] * 400_000})
    assert response.status_code in (413, 422)
    assert stored(org)[1] == list(DEFAULT_BLOCKED)


def test_a_platform_key_or_none_is_refused(client, org):
    platform = make_api_key(org, "platform")
    assert call(client, platform).status_code == 403
    assert call(client, platform, "put", VALID).status_code == 403
    assert client.get(PATH).status_code == 401
    assert client.put(PATH, json.dumps(VALID), content_type="application/json").status_code == 401
    assert stored(org)[1] == list(DEFAULT_BLOCKED)


def test_each_key_reads_and_changes_only_its_organisation(client, admin, org, other_org):
    theirs = make_api_key(other_org, "admin")
    assert call(client, admin, "put", VALID).status_code == 200
    assert stored(other_org)[1] == list(DEFAULT_BLOCKED)
    assert call(client, theirs).json()["currency"] == "EUR"
    assert call(client, theirs).json()["blocked_prefixes"] == list(DEFAULT_BLOCKED)
    assert call(client, theirs, "put", {**VALID, "blocked_prefixes": ["DE"]}).status_code == 200
    assert stored(org)[1] == ["+882", "CU", "+4470"]
    assert guard_for(org).refusal("+4930123456", 0) is None
