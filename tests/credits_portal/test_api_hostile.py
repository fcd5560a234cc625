"""The hostile-input walk of the API (issue 14, build item 8): every operation of the OpenAPI
document, each path parameter, query parameter, JSON field (nested ones too, and the body as a
whole) and the headers we read, called with each hostile value. No answer is a 5xx, none takes
longer than a few seconds.

The operations come from the document the API serves, so a new one is walked without a change
here; one that takes a body needs a valid body below (the test says so), from which every
field is then replaced in turn.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
import time_machine
from django.test import Client

from billing.services.agreements import agreement_register
from licensing.services import Change, license_change
from tests.builders import account_of, demo_rate_card, grant, make_api_key, make_user, seats

pytestmark = pytest.mark.django_db(transaction=True)
SLOW_SECONDS = 3.0
INF = "\x01inf\x01"  # stands for the bare JSON number 1e309 (json.dumps cannot write it)
HOSTILE: list[Any] = [
    "\x00",
    "\ud800",
    "x" * 10_000,
    "a" * 300 + "@contoso.example",  # longer than a UPN column, shorter than an email may be
    -1,
    2**63,
    INF,
    True,
    [],
    {},
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
]
RECORD = {
    "id": "walk-1",
    "kind": "call",
    "type": "outbound",
    "user": "ana@contoso.example",
    "from": "+14255550100",
    "to": "+441612345678",
    "started_at": "2026-11-20T09:15:00Z",
    "duration_seconds": 60,
    "authorization_id": "az_x",
    "conference_id": "conf-1",
}
BODIES: dict[tuple[str, str], dict] = {
    ("POST", "/api/v1/users"): {
        "upn": "ana@contoso.example",
        "display_name": "Ana Kim",
        "usage_location": "US",
        "phone_number": "+14255550100",
    },
    ("POST", "/api/v1/users/{upn}/licenses"): {"assign": ["CALLING_DOMESTIC"], "remove": []},
    ("POST", "/api/v1/calls/authorize"): {
        "user": "ana@contoso.example",
        "type": "outbound",
        "to": "+441612345678",
        "from": "+14255550100",
    },
    ("POST", "/api/v1/usage/records"): {"records": [RECORD]},
    ("PUT", "/api/v1/account/auto-recharge"): {
        "enabled": False,
        "trigger_amount": "10",
        "recharge_amount": "50",
    },
    ("PUT", "/api/v1/account/alerts"): {"low_balance": ["100.00", "20.00"], "runway_days": 7},
    ("POST", "/api/v1/account/purchases"): {
        "amount": "50",
        "method": "agreement",
        "agreement": "EA-4500123",
        "po": "PO-1",
    },
    ("POST", "/api/v1/subscriptions/{sku}/seats"): {"add": 1},
    ("POST", "/api/v1/webhooks"): {
        "url": "http://127.0.0.1:9/hooks",  # WEBHOOKS_ALLOW_PRIVATE below: deliveries stay here
        "events": ["balance.low", "invoice.issued"],
    },
    ("PUT", "/api/v1/users/{upn}/caps"): {"daily": "20.00", "monthly": None},
    ("PUT", "/api/v1/account/fraud-guards"): {
        "max_rate_per_minute": "1.0000",
        "blocked_prefixes": ["+882", "CU"],
        "max_call_seconds": {"outbound": 3600, "conference_dial_out": None},
    },
}
# Cursors that decode to hostile text, or to numbers beyond the columns they are compared with.
CURSORS = [
    base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode()
    for text in [
        "\x00",
        "\ud800",
        "le_\x00",
        "inv_99999999999",
        "le_99999999999999999999",
        "9999-12-31T23:59:59+00:00|99999999999999999999",
        "0001-01-01T00:00:00+05:00|1",
        "2026-02-30T00:00:00+00:00|1",
        "x|y|z",
    ]
] + ["%FF%FE", "AA", "====", "A" * 1001]
PATH_VALUES = {
    "upn": "ana@contoso.example",
    "sku": "PHONE_SYSTEM",
    "webhook_id": "6f1d1c2e-3a55-4c0e-9b8e-5d1f3e7a9c41",
}
PLATFORM = {("POST", "/api/v1/calls/authorize"), ("POST", "/api/v1/usage/records")}


def as_url_text(value: Any) -> str:
    if value == INF:
        return "1e309"
    if isinstance(value, bool):
        return "true"
    text = value if isinstance(value, str) else json.dumps(value)
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def as_json(body: Any) -> str:
    return json.dumps(body).replace(json.dumps(INF), "1e309")


def leaves(value: Any, where: tuple = ()) -> Iterator[tuple]:
    """The place of every field and container inside a body, the body itself first."""
    yield where
    if isinstance(value, dict):
        for name, item in value.items():
            yield from leaves(item, (*where, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*where, index))


def replaced(value: Any, where: tuple, new: Any) -> Any:
    if not where:
        return new
    copy = json.loads(json.dumps(value))
    target = copy
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = new
    return copy


@pytest.fixture(autouse=True)
def _in_november_2026():
    with time_machine.travel(datetime(2026, 11, 20, 12, 0, tzinfo=UTC), tick=True):
        yield


@pytest.fixture(autouse=True)
def _webhooks_stay_local(settings):
    # The walk adds webhook endpoints and then issues invoices: their deliveries go to a closed
    # port on this machine (refused at once), never out to the internet.
    settings.WEBHOOKS_ALLOW_PRIVATE = True


@pytest.fixture
def walked(org):
    """contoso with everything an operation may touch: a rated user with licenses, credits, an
    agreement, usage records and invoices to page through."""
    from usage.services.ingest import usage_ingest

    demo_rate_card()
    seats(org, PHONE_SYSTEM=5, CALLING_DOMESTIC=5, COMMS_CREDITS=5)
    ana = make_user(org, "ana@contoso.example")
    license_change(
        organisation=org,
        changes=[Change(ana, {"PHONE_SYSTEM", "COMMS_CREDITS"})],
        actor="t",
        source="t",
    )
    grant(org, "100")
    agreement_register(account=account_of(org), number="EA-4500123", credit_limit="10000")
    usage_ingest(organisation=org, records=[{**RECORD, "authorization_id": ""}])
    return {"admin": make_api_key(org, "admin"), "platform": make_api_key(org, "platform")}


def operations(client: Client) -> list[tuple[str, str, dict]]:
    document = client.get("/api/v1/openapi.json").json()
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            found.append((method.upper(), path, operation))
    return found


class Walk:
    def __init__(self, keys: dict[str, str]) -> None:
        self.client = Client(raise_request_exception=False)
        self.keys = keys
        self.failures: list[str] = []
        self.calls = 0
        self.slowest = 0.0

    def call(
        self,
        method: str,
        template: str,
        *,
        path: dict[str, str] | None = None,
        query: str = "",
        body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> int:
        url = template
        for name, value in {**PATH_VALUES, **(path or {})}.items():
            url = url.replace("{" + name + "}", value)
        if query:
            url = f"{url}?{query}"
        scope = "platform" if (method, template) in PLATFORM else "admin"
        extra = {"HTTP_AUTHORIZATION": f"Bearer {self.keys[scope]}", **(headers or {})}
        started = time.monotonic()
        response = self.client.generic(
            method, url, (body or "").encode("utf-8", "surrogatepass"), "application/json", **extra
        )
        took = time.monotonic() - started
        self.calls += 1
        self.slowest = max(self.slowest, took)
        what = f"{method} {url[:200]} body={(body or '')[:200]!r} headers={headers}"
        if response.status_code >= 500:
            self.failures.append(f"{response.status_code}: {what}")
        if took > SLOW_SECONDS:
            self.failures.append(f"{took:.1f} s: {what}")
        return response.status_code


def test_every_api_operation_survives_hostile_values(client, walked):
    walk = Walk(walked)
    ops = operations(client)
    assert len(ops) >= 14
    for method, template, operation in ops:
        parameters = operation.get("parameters", [])
        body = BODIES.get((method, template))
        if "requestBody" in operation:
            assert body is not None, f"give {method} {template} a valid body in BODIES"
        text = as_json(body) if body is not None else None
        # The valid request answers below 500 too: the walk starts from something that works.
        walk.call(method, template, body=text)
        for parameter in parameters:
            name = parameter["name"]
            if name == "cursor":
                for cursor in CURSORS:
                    walk.call(method, template, query=f"cursor={quote(cursor, safe='%')}")
            for value in HOSTILE:
                if parameter["in"] == "path":
                    walk.call(method, template, path={name: as_url_text(value)}, body=text)
                else:
                    walk.call(method, template, query=f"{name}={as_url_text(value)}", body=text)
        walk.call(method, template, query="%00=1", body=text)
        if body is not None:
            for where in leaves(body):
                for value in HOSTILE:
                    walk.call(method, template, body=as_json(replaced(body, where, value)))
            for raw in ["", "{", "nul\x00", '"\\ud800"', "[" * 10_000, "1e309"]:
                walk.call(method, template, body=raw)
            for idem in ["k\x00", "k\x85", "K" * 10_000, "ünïcode"]:
                walk.call(method, template, body=text, headers={"HTTP_IDEMPOTENCY_KEY": idem})
        for auth in ["Bearer cpk_\x00_x", "Bearer " + "a" * 10_000, "Bearer cpk_ü_ü"]:
            walk.call(method, template, body=text, headers={"HTTP_AUTHORIZATION": auth})
    assert not walk.failures, "\n".join(walk.failures)
    assert walk.calls > 500
    print(
        f"hostile walk: {len(ops)} operations, {walk.calls} requests, slowest {walk.slowest:.2f} s"
    )


NUL_CURSOR = base64.urlsafe_b64encode(b"\x00").decode()


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("GET", "/api/v1/usage/records?user=%00", None, "user"),
        ("GET", "/api/v1/usage/records?type=%00", None, "type"),
        ("GET", "/api/v1/users?q=%00", None, "q"),
        ("GET", "/api/v1/users/%00/licenses", None, "upn"),
        ("POST", "/api/v1/users/%00/licenses", {"assign": []}, "upn"),
        ("GET", f"/api/v1/users?cursor={NUL_CURSOR}", None, "cursor"),
        ("GET", f"/api/v1/ledger?cursor={NUL_CURSOR}", None, "cursor"),
        ("GET", f"/api/v1/invoices?cursor={NUL_CURSOR}", None, "cursor"),
        ("GET", f"/api/v1/usage/records?cursor={NUL_CURSOR}", None, "cursor"),
        ("POST", "/api/v1/users", {**BODIES[("POST", "/api/v1/users")], "upn": "a" * 300}, "upn"),
        (
            "POST",
            "/api/v1/users",
            {**BODIES[("POST", "/api/v1/users")], "display_name": "\x00"},
            "display_name",
        ),
        ("PUT", "/api/v1/account/auto-recharge", {"enabled": "maybe"}, "enabled"),
        ("PUT", "/api/v1/account/alerts", {"low_balance": ["\x00"]}, "low_balance.0"),
        ("PUT", "/api/v1/account/alerts", {"low_balance": ["-1"]}, "low_balance"),
        ("PUT", "/api/v1/account/alerts", {"runway_days": "7"}, "runway_days"),
        ("POST", "/api/v1/account/purchases", {"amount": 50, "method": "card"}, "amount"),
        ("POST", "/api/v1/subscriptions/PHONE_SYSTEM/seats", {"add": "2"}, "add"),
        ("POST", "/api/v1/subscriptions/PHONE_SYSTEM/seats", {"release": -1}, "release"),
    ],
)
def test_the_requests_of_finding_3_are_422_naming_the_field(walked, method, url, body, field):
    response = Client().generic(
        method,
        url,
        json.dumps(body) if body is not None else "",
        "application/json",
        HTTP_AUTHORIZATION=f"Bearer {walked['admin']}",
    )
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"], response.json()


def test_every_request_string_of_the_schema_is_bounded_and_clean(client):
    """The class stays closed: each string a request may carry (path, query, JSON at any depth)
    is declared with the edge's rule (`api_input.Text`): a maxLength and no control characters.
    A `date` or an enum is parsed, not stored as sent; ingest's records are checked one by one
    (usage.services.ingest), so a bad one is `rejected`, not the batch."""
    from credits_portal.api_input import CLEAN_PATTERN
    from usage.api_records import E164_OR_EMPTY_PATTERN, E164_PATTERN

    # A phone number's documented shape admits no control character either (issue 17).
    clean = {CLEAN_PATTERN, E164_PATTERN, E164_OR_EMPTY_PATTERN}

    document = client.get("/api/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    loose: list[str] = []
    checked: list[str] = []

    def check(schema: dict, where: str) -> None:
        if "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        for alternative in (
            schema.get("anyOf", []) + schema.get("allOf", []) + schema.get("oneOf", [])
        ):
            check(alternative, where)
        parsed = {"enum", "const", "format"} & set(schema)
        if schema.get("type") == "string" and not parsed:
            checked.append(where)
            if "maxLength" not in schema or schema.get("pattern") not in clean:
                loose.append(where)
        for name, item in schema.get("properties", {}).items():
            check(item, f"{where}.{name}")
        if isinstance(schema.get("items"), dict):
            check(schema["items"], f"{where}[]")

    for path, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                check(parameter["schema"], f"{method.upper()} {path} {parameter['name']}")
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                check(body["schema"], f"{method.upper()} {path} body")
    assert loose == []
    assert len(checked) >= 20, checked  # upn, display_name, cursors, amounts, …
