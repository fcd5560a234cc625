"""`Idempotency-Key`: replay the first response, refuse another body, serialise races."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from credits_portal.api import idempotency_keys_purge
from credits_portal.models import IdempotencyKey
from tests.builders import make_api_key
from tests.processes import at_once

pytestmark = pytest.mark.urls("tests.credits_portal.idempotency_urls")
URL = "/api/contacts"


def post(client: Client, key: str, body: dict, idem: str | None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    if idem:
        headers["HTTP_IDEMPOTENCY_KEY"] = idem
    return client.post(URL, body, content_type="application/json", **headers)


@pytest.mark.django_db
def test_the_same_key_and_body_replays_the_first_response(client, org):
    key = make_api_key(org)
    first = post(client, key, {"email": "ap@x.example"}, "k-1")
    second = post(client, key, {"email": "ap@x.example"}, "k-1")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert org.billing_contacts.count() == 1


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_409(client, org):
    key = make_api_key(org)
    post(client, key, {"email": "ap@x.example"}, "k-1")
    response = post(client, key, {"email": "other@x.example"}, "k-1")
    assert response.status_code == 409
    assert response.json()["type"].endswith("idempotency_key_reused")
    assert org.billing_contacts.count() == 1


@pytest.mark.django_db
def test_a_refusal_is_replayed_too(client, org):
    key = make_api_key(org)
    post(client, key, {"email": "ap@x.example"}, None)
    refused = post(client, key, {"email": "ap@x.example"}, "k-2")
    assert refused.status_code == 422
    org.billing_contacts.all().delete()
    again = post(client, key, {"email": "ap@x.example"}, "k-2")
    assert again.status_code == 422 and again["Idempotent-Replayed"] == "true"
    assert not org.billing_contacts.exists()


@pytest.mark.django_db
def test_keys_are_per_organisation(client, org, other_org):
    post(client, make_api_key(org), {"email": "ap@x.example"}, "shared")
    theirs = post(client, make_api_key(other_org), {"email": "ap@x.example"}, "shared")
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs
    assert other_org.billing_contacts.count() == 1


@pytest.mark.django_db
def test_without_a_key_every_request_runs(client, org):
    key = make_api_key(org)
    post(client, key, {"email": "a@x.example"}, None)
    post(client, key, {"email": "b@x.example"}, None)
    assert org.billing_contacts.count() == 2
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_a_key_over_255_characters_is_400(client, org):
    response = post(client, make_api_key(org), {"email": "a@x.example"}, "k" * 256)
    assert response.status_code == 400
    assert not org.billing_contacts.exists()


@pytest.mark.django_db
def test_responses_are_forgotten_after_the_replay_window(client, org, settings):
    key = make_api_key(org)
    post(client, key, {"email": "a@x.example"}, "k-old")
    with time_machine.travel(
        timezone.now() + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS + 1)
    ):
        assert idempotency_keys_purge() == 1
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_run_once(org):
    key = make_api_key(org)
    results: list[tuple[int, bytes]] = []

    def worker(_i: int) -> None:
        response = post(Client(), key, {"email": "race@x.example"}, "race-1")
        results.append((response.status_code, response.content))

    assert at_once(worker, 4) == []
    assert [status for status, _ in results] == [201] * 4
    assert len({content for _, content in results}) == 1
    assert org.billing_contacts.count() == 1


@pytest.mark.django_db
def test_a_refusal_for_the_key_scope_is_never_stored(client, org):
    """Issue 14, finding 7: a platform key's 403 is not replayed to an admin key."""
    platform = post(client, make_api_key(org, "platform"), {"email": "ap@x.example"}, "k-403")
    assert platform.status_code == 403
    assert not IdempotencyKey.objects.exists()
    admin = post(client, make_api_key(org, "admin"), {"email": "ap@x.example"}, "k-403")
    assert admin.status_code == 201 and "Idempotent-Replayed" not in admin
    assert org.billing_contacts.count() == 1


@pytest.mark.django_db
def test_a_401_is_never_stored(client, org):
    key = make_api_key(org)
    revoked = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert post(client, revoked, {"email": "ap@x.example"}, "k-401").status_code == 401
    assert not IdempotencyKey.objects.exists()
    assert post(client, key, {"email": "ap@x.example"}, "k-401").status_code == 201


@pytest.mark.django_db
def test_keys_are_per_api_key(client, org):
    first, second = make_api_key(org), make_api_key(org)
    post(client, first, {"email": "ap@x.example"}, "shared")
    theirs = post(client, second, {"email": "other@x.example"}, "shared")
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs
    again = post(client, second, {"email": "other@x.example"}, "shared")
    assert again["Idempotent-Replayed"] == "true" and again.json() == theirs.json()
    assert org.billing_contacts.count() == 2
    assert IdempotencyKey.objects.count() == 2


@pytest.mark.parametrize("idem", ["k\x00", "k\x7f", "k\x85"])
@pytest.mark.django_db
def test_a_key_with_control_characters_is_400(client, org, idem):
    response = post(client, make_api_key(org), {"email": "a@x.example"}, idem)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]
    assert not org.billing_contacts.exists()
