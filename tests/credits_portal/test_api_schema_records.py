"""The OpenAPI schema describes the platform's contract completely (issue 17, item 8).

A platform integrator reads call and SMS records, their per-record results and the authorize
request and response from `/api/v1/openapi.json` alone: every field with its type, bounds,
format, enum and whether it is required, and examples that validate against the schema. The
batch stays permissive: a record that breaks the schema is rejected on its own, never the body.
"""

from __future__ import annotations

from datetime import UTC, datetime

import jsonschema_rs  # schemathesis's own JSON Schema validator
import pytest
import time_machine
from django.test import Client

from tests.builders import demo_rate_card, grant, licensed_user, make_api_key, seats_of_every_sku

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema() -> dict:
    from credits_portal.api import api

    return api.get_openapi_schema()


def resolved(schema: dict, node: dict) -> dict:
    """`node` with its `$ref` followed (components only)."""
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def validator(schema: dict, node: dict) -> jsonschema_rs.Draft202012Validator:
    """A JSON Schema validator for `node` that resolves `#/components/schemas/…` and checks
    formats (`date-time`)."""
    document = {**node, "components": schema["components"]}
    return jsonschema_rs.Draft202012Validator(document, validate_formats=True)


def body_schema(schema: dict, path: str) -> dict:
    operation = schema["paths"][path]["post"]
    return resolved(schema, operation["requestBody"]["content"]["application/json"]["schema"])


def response_schema(schema: dict, path: str) -> dict:
    responses = schema["paths"][path]["post"]["responses"]
    content = responses.get(200, responses.get("200"))["content"]
    return resolved(schema, content["application/json"]["schema"])


def test_records_are_not_items_of_anything(schema):
    records = body_schema(schema, "/api/v1/usage/records")["properties"]["records"]
    assert records["type"] == "array" and records["maxItems"] == 1000
    assert records["items"] != {}
    refs = {resolved(schema, one)["title"] for one in records["items"]["oneOf"]}
    assert refs == {"CallRecord", "SmsRecord"}
    assert records["items"]["discriminator"]["propertyName"] == "kind"


def test_every_call_record_field_has_its_type_and_bounds(schema):
    call = schema["components"]["schemas"]["CallRecord"]
    fields = call["properties"]
    assert set(call["required"]) == {
        "id",
        "kind",
        "type",
        "user",
        "to",
        "started_at",
        "duration_seconds",
    }
    assert set(fields) == set(call["required"]) | {"from", "authorization_id", "conference_id"}
    assert fields["id"] == {**fields["id"], "type": "string", "minLength": 1, "maxLength": 100}
    assert fields["kind"]["const"] == "call" or fields["kind"]["enum"] == ["call"]
    assert fields["type"]["enum"] == ["outbound", "conference_dial_out", "toll_free_dial_in"]
    assert fields["user"]["maxLength"] == 254 and fields["user"]["type"] == "string"
    assert fields["to"]["pattern"] == r"^\+[1-9][0-9]{1,14}$" and fields["to"]["maxLength"] == 20
    assert fields["started_at"]["format"] == "date-time"
    assert "USAGE_MAX_AGE_DAYS" in fields["started_at"]["description"]
    duration = fields["duration_seconds"]
    assert (duration["type"], duration["minimum"], duration["maximum"]) == ("integer", 0, 86400)
    for name in ("from", "authorization_id", "conference_id"):
        options = {one.get("type") for one in fields[name]["anyOf"]}
        assert options == {"string", "null"}, name
    limits = {
        name: next(o for o in fields[name]["anyOf"] if o["type"] == "string")
        for name in fields
        if "anyOf" in fields[name]
    }
    assert limits["authorization_id"]["maxLength"] == 40
    assert limits["conference_id"]["maxLength"] == 64
    assert limits["from"]["pattern"] == r"^(\+[1-9][0-9]{1,14})?$"
    for name, field in fields.items():
        assert field.get("description") or name in ("kind", "type"), name


def test_an_sms_record_has_no_duration(schema):
    sms = schema["components"]["schemas"]["SmsRecord"]
    assert "duration_seconds" not in sms["properties"]
    assert set(sms["required"]) == {"id", "kind", "type", "user", "to", "started_at"}
    assert sms["properties"]["type"].get("const") == "sms" or sms["properties"]["type"]["enum"] == [
        "sms"
    ]


def test_the_result_of_a_record_says_each_status(schema):
    results = response_schema(schema, "/api/v1/usage/records")["properties"]["results"]
    result = resolved(schema, results["items"])
    assert result["properties"]["status"]["enum"] == ["rated", "duplicate", "rejected"]
    assert "every invalid field" in result["properties"]["error"]["description"]
    assert set(result["required"]) == {"id", "status"}


def test_the_examples_validate_against_the_schema(schema):
    components = schema["components"]["schemas"]
    (call,) = components["CallRecord"]["examples"]
    (sms,) = components["SmsRecord"]["examples"]
    batch = body_schema(schema, "/api/v1/usage/records")
    (example,) = batch["examples"]
    assert example == {"records": [call, sms]}
    validator(schema, batch).validate(example)
    answer = response_schema(schema, "/api/v1/usage/records")
    results = components["RecordResult"]["examples"]
    assert {r["status"] for r in results} == {"rated", "duplicate", "rejected"}
    validator(schema, answer).validate({"results": results})
    authorize = body_schema(schema, "/api/v1/calls/authorize")
    for request in authorize["examples"]:
        validator(schema, authorize).validate(request)
    decision = response_schema(schema, "/api/v1/calls/authorize")
    for response in decision["examples"]:
        validator(schema, decision).validate(response)


def test_the_schema_refuses_what_the_ingest_refuses(schema):
    """The bounds are the ingest's: a record one step beyond a bound breaks the schema."""
    batch = validator(schema, body_schema(schema, "/api/v1/usage/records"))
    (call,) = schema["components"]["schemas"]["CallRecord"]["examples"]
    for field, value in [
        ("duration_seconds", 86401),
        ("duration_seconds", -1),
        ("id", "x" * 101),
        ("to", "0044207"),
        ("type", "sms"),
        ("started_at", "yesterday"),
    ]:
        assert not batch.is_valid({"records": [{**call, field: value}]}), field


def test_authorize_is_described(schema):
    request = body_schema(schema, "/api/v1/calls/authorize")
    fields = request["properties"]
    assert set(request["required"]) == {"user", "type", "to"}
    assert fields["type"]["enum"] == ["outbound", "conference_dial_out", "toll_free_dial_in"]
    assert fields["to"]["pattern"] == r"^\+[1-9][0-9]{1,14}$"
    answer = response_schema(schema, "/api/v1/calls/authorize")["properties"]
    assert answer["funded_by"]["enum"] == ["plan_minutes", "credits", "overage", "none"]
    assert "insufficient_balance" in answer["reason"]["description"]


def test_no_request_body_is_an_empty_schema(schema):
    """Every body of the API says what it holds (no `{}` anywhere in a request)."""

    def empty(node: object) -> list:
        if isinstance(node, dict):
            if node == {}:
                return [node]
            return [e for value in node.values() for e in empty(value)]
        if isinstance(node, list):
            return [e for value in node for e in empty(value)]
        return []

    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                body = operation["requestBody"]["content"]["application/json"]["schema"]
                assert empty(resolved(schema, body)) == [], (method, path)
    for name in ("CallRecord", "SmsRecord", "RecordResult", "AuthorizeIn", "AuthorizeOut"):
        assert empty(schema["components"]["schemas"][name]) == [], name


def test_the_served_schema_is_the_same_document(client, org):
    served = Client().get("/api/v1/openapi.json").json()
    assert "CallRecord" in served["components"]["schemas"]


@time_machine.travel(datetime(2026, 11, 2, 9, 30, tzinfo=UTC), tick=True)
def test_ingest_still_rejects_record_by_record(client, org, schema):
    """Records that break the schema in several ways: 200, each rejected naming every invalid
    field, the valid examples beside them rated."""
    demo_rate_card()
    seats_of_every_sku(org, 5)
    licensed_user(org, "ana@contoso.example", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(org, "10.00")
    key = make_api_key(org, "platform")
    components = schema["components"]["schemas"]
    (call,) = components["CallRecord"]["examples"]
    (sms,) = components["SmsRecord"]["examples"]
    bad = {**call, "id": "bad-1", "to": "+1", "duration_seconds": 86401, "type": "inbound"}
    response = client.post(
        "/api/v1/usage/records",
        {"records": [call, "not a record", bad, sms, {**sms, "id": "bad-2", "started_at": 7}]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200, response.content
    found = response.json()["results"]
    assert [(r["id"], r["status"]) for r in found] == [
        ("call-7f3a", "rated"),
        ("", "rejected"),
        ("bad-1", "rejected"),
        ("sms-91c2", "rated"),
        ("bad-2", "rejected"),
    ], found
    assert found[1]["error"] == "a record is a JSON object"
    assert found[2]["error"] == (
        "type: outbound, conference_dial_out or toll_free_dial_in; "
        "to: '+1' is not an E.164 number; duration_seconds: at most 86400"
    )
    assert found[4]["error"] == "started_at: a string"
