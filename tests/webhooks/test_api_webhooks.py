"""`GET`/`POST`/`DELETE /api/v1/webhooks` (API.md "Admin scope"): the secret once, hostile
input a 422 naming the field, another organisation's endpoint a 404, admin keys only."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from credits_portal.models import AuditEvent
from tests.builders import make_api_key
from webhooks.models import WebhookEndpoint
from webhooks.services.endpoints import MAX_ENDPOINTS, endpoint_create

pytestmark = pytest.mark.django_db

URL = "https://93.184.215.14/hooks/credits"


@pytest.fixture
def api(org):
    key = make_api_key(org, "admin")
    client = Client()

    def call(method: str, path: str, body=None, *, raw: str | None = None, key=key):
        data = raw if raw is not None else json.dumps(body) if body is not None else ""
        return client.generic(
            method,
            f"/api/v1{path}",
            data,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )

    return call


def test_create_list_and_delete(api, org):
    created = api("POST", "/webhooks", {"url": URL, "events": ["invoice.issued", "balance.low"]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["url"] == URL and body["status"] == "enabled"
    assert body["events"] == ["balance.low", "invoice.issued"]  # the catalogue's order
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40

    listed = api("GET", "/webhooks")
    assert listed.status_code == 200
    [shown] = listed.json()["webhooks"]
    assert shown["id"] == body["id"] and "secret" not in shown
    assert secret not in listed.content.decode()

    assert api("DELETE", f"/webhooks/{body['id']}").status_code == 204
    assert api("GET", "/webhooks").json() == {"webhooks": []}
    assert api("DELETE", f"/webhooks/{body['id']}").status_code == 404
    actions = list(AuditEvent.objects.filter(organisation=org).values_list("action", flat=True))
    assert sorted(actions) == ["webhook.created", "webhook.deleted"]
    assert secret not in json.dumps(list(AuditEvent.objects.values("before", "after")))


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"url": "http://127.0.0.1/x", "events": ["balance.zero"]}, "url", "loopback"),
        ({"url": "ftp://93.184.215.14/", "events": ["balance.zero"]}, "url", "Only http"),
        ({"url": "nul\x00", "events": ["balance.zero"]}, "url", "control characters"),
        ({"url": "https://a.example/" + "x" * 10_000, "events": ["cap.reached"]}, "url", "2000"),
        ({"url": URL, "events": ["balance.nope"]}, "events", "Unknown event type 'balance.nope'"),
        ({"url": URL, "events": []}, "events", "at least one"),
        ({"url": URL, "events": "balance.zero"}, "events", "list"),
        ({"url": URL, "events": [1]}, "events.0", "string"),
        ({"url": URL, "events": ["x" * 10_000]}, "events.0", "40"),
        ({"url": 42, "events": ["balance.zero"]}, "url", "string"),
        ({"url": None, "events": ["balance.zero"]}, "url", "string"),
        ({"events": ["balance.zero"]}, "url", "required"),
        ({"url": URL}, "events", "required"),
    ],
)
def test_hostile_bodies_are_422_naming_the_field(api, body, field, words):
    response = api("POST", "/webhooks", body)
    assert response.status_code == 422, response.content
    problem = response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert words.lower() in " ".join(problem["errors"][field]).lower(), problem
    assert not WebhookEndpoint.objects.exists()


def test_both_bad_fields_are_named_at_once(api):
    response = api("POST", "/webhooks", {"url": "gopher://x", "events": ["nope"]})
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"url", "events"}


@pytest.mark.parametrize("raw", ["", "{", "[]", "null", '"\\ud800"', "nul\x00"])
def test_a_body_that_is_not_an_object_is_4xx(api, raw):
    assert 400 <= api("POST", "/webhooks", raw=raw).status_code < 500


@pytest.mark.parametrize("webhook_id", ["not-a-uuid", "%00", "x" * 999])
def test_a_hostile_id_is_4xx(api, webhook_id):
    assert api("DELETE", f"/webhooks/{webhook_id}").status_code in (404, 422)


def test_another_organisations_endpoint_is_404_and_stays(api, other_org):
    theirs, _ = endpoint_create(organisation=other_org, url=URL, events=["balance.zero"])
    assert api("DELETE", f"/webhooks/{theirs.code}").status_code == 404
    assert api("GET", "/webhooks").json() == {"webhooks": []}
    assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()


def test_a_platform_key_is_403(api, org):
    platform = make_api_key(org, "platform")
    for method, path in [("GET", "/webhooks"), ("POST", "/webhooks"), ("DELETE", "/webhooks/x")]:
        assert api(method, path, {"url": URL, "events": []}, key=platform).status_code == 403


def test_at_most_twenty_endpoints(api, org):
    for n in range(MAX_ENDPOINTS):
        endpoint_create(organisation=org, url=f"{URL}?n={n}", events=["balance.zero"])
    response = api("POST", "/webhooks", {"url": URL, "events": ["balance.zero"]})
    assert response.status_code == 409
    assert "At most 20" in response.json()["detail"]
