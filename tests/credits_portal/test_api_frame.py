"""The API frame: Bearer keys and scopes, problem+json errors, body limits, schema and docs."""

from __future__ import annotations

import hashlib
import hmac
from unittest import mock

import pytest
from django.test import Client, override_settings

from credits_portal import services
from credits_portal.models import ApiKey
from tests.builders import make_api_key

pytestmark = pytest.mark.django_db
URL = "/api/v1/organisation"


def bearer(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


@pytest.mark.parametrize("scope", ["admin", "platform"])
def test_a_key_reads_its_own_organisation(client, org, other_org, scope):
    response = client.get(URL, **bearer(make_api_key(org, scope)))
    assert response.status_code == 200
    assert response.json() == {
        "slug": "contoso",
        "name": "Contoso Ltd",
        "currency": "USD",
        "country": "US",
        "commerce": "legacy",
        "scope": scope,
    }
    assert ApiKey.objects.get(organisation=org).last_used_at is not None


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer nonsense", "Bearer cpk_000000000000_wrong", "Basic dXNlcjpwYXNz"],
)
def test_no_or_bad_key_is_401(client, org, header):
    make_api_key(org)
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    body = assert_problem(client.get(URL, **extra), 401)
    assert body["title"] == "Unauthorized"


def test_a_right_prefix_with_a_wrong_secret_is_401(client, org):
    plain = make_api_key(org)
    tampered = plain[:-4] + ("AAAA" if not plain.endswith("AAAA") else "BBBB")
    assert_problem(client.get(URL, **bearer(tampered)), 401)


def test_the_secret_is_compared_in_constant_time_against_its_hash(client, org):
    plain = make_api_key(org)
    stored = ApiKey.objects.get()
    assert plain.rsplit("_", 1)[-1] not in stored.secret_hash  # only a SHA-256 is kept
    with mock.patch.object(services.hmac, "compare_digest", wraps=hmac.compare_digest) as spy:
        assert client.get(URL, **bearer(plain)).status_code == 200
    spy.assert_called_once_with(
        stored.secret_hash, hashlib.sha256(plain.split("_", 2)[2].encode()).hexdigest()
    )


def test_a_revoked_key_is_401(client, org):
    plain = make_api_key(org)
    services.api_key_revoke(key=ApiKey.objects.get())
    assert_problem(client.get(URL, **bearer(plain)), 401)


def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200
    assert "/api/v1/organisation" in schema.json()["paths"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/users//licenses", "/api/x"])
def test_unknown_api_path_is_a_404_problem(client, org, path):
    """No route matches (an empty path value among them): still a problem document, as the
    schema says, never the portal's HTML page."""
    response = client.get(path, **bearer(make_api_key(org)))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_an_unknown_portal_path_is_the_html_404(client):
    response = client.get("/nothing-here/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


@pytest.mark.urls("tests.credits_portal.idempotency_urls")
class TestBodies:
    url = "/api/contacts"

    def test_malformed_json_is_400(self, client, org):
        response = client.post(
            self.url, "{not json", content_type="application/json", **bearer(make_api_key(org))
        )
        assert_problem(response, 400)
        assert not org.billing_contacts.exists()

    def test_invalid_values_are_422_naming_the_field(self, client, org):
        response = client.post(
            self.url, {"email": ["x"]}, content_type="application/json", **bearer(make_api_key(org))
        )
        body = assert_problem(response, 422)
        assert list(body["errors"]) == ["email"]

    def test_a_domain_refusal_is_422_naming_the_field(self, client, org):
        key = bearer(make_api_key(org))
        client.post(self.url, {"email": "ap@x.example"}, content_type="application/json", **key)
        response = client.post(
            self.url, {"email": "ap@x.example"}, content_type="application/json", **key
        )
        body = assert_problem(response, 422)
        assert body["errors"] == {"email": ["ap@x.example is already a billing contact."]}

    @override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
    def test_an_oversized_body_is_413(self, client, org):
        big = '{"email": "' + "a" * 2000 + '@x.example"}'
        response = client.post(
            self.url, big, content_type="application/json", **bearer(make_api_key(org))
        )
        assert_problem(response, 413)
        assert not org.billing_contacts.exists()

    def test_a_platform_key_on_an_admin_endpoint_is_403(self, client, org):
        response = client.post(
            self.url,
            {"email": "a@x.example"},
            content_type="application/json",
            **bearer(make_api_key(org, "platform")),
        )
        assert_problem(response, 403)
        assert not org.billing_contacts.exists()


def test_no_session_needed_and_no_csrf_for_keys(org):
    client = Client(enforce_csrf_checks=True)
    assert client.get(URL, **bearer(make_api_key(org))).status_code == 200


@pytest.mark.parametrize(
    "header", ["Bearer cpk_\x00_secret", "Bearer cpk_0123456789ab\x00_secret", "Bearer cpk_é_x"]
)
def test_a_key_with_hostile_characters_is_401(client, org, header):
    make_api_key(org)
    assert_problem(client.get(URL, HTTP_AUTHORIZATION=header), 401)


def test_cursor_page_walks_every_row_once_and_refuses_a_bad_limit_or_cursor():
    from django.contrib.auth import get_user_model

    from credits_portal.api import ApiProblem, cursor_page
    from credits_portal.api_input import cursor_encode

    User = get_user_model()
    names = [f"walker-{n:02}@example.com" for n in range(7)]
    User.objects.bulk_create([User(email=name) for name in names])
    rows = User.objects.filter(email__startswith="walker-").order_by("email")

    def page(cursor, limit=3):
        return cursor_page(
            rows,
            cursor=cursor,
            limit=limit,
            max_limit=5,
            parse=str,
            after=lambda users, name: users.filter(email__gt=name),
            position=lambda user: user.email,
        )

    seen, cursor = [], None
    while True:
        users, cursor = page(cursor)
        seen += [u.email for u in users]
        if cursor is None:
            break
    assert seen == names
    for limit in (0, 6):
        with pytest.raises(ApiProblem) as refused:
            page(None, limit)
        assert refused.value.kwargs["errors"] == {"limit": ["Between 1 and 5."]}
    with pytest.raises(ApiProblem) as refused:
        page(cursor_encode("walker\x00"))  # not text a cursor of ours holds
    assert list(refused.value.kwargs["errors"]) == ["cursor"]
