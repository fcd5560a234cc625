"""Every API operation: no key → 401, a key of the wrong scope → 403, another tenant → 404.

Operations with path parameters must be listed in OBJECT_PATHS with a builder that makes the
object in an organisation, so that a new endpoint cannot skip the cross-tenant check.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client

import credits_portal.urls  # noqa: F401  (attaches the apps' routers to the API)
from credits_portal.api import api
from tests.builders import make_api_key

pytestmark = pytest.mark.django_db


# "/path/{param}" → builder(organisation) returning the path for an object of that organisation.
def _directory_user_path(organisation) -> str:
    from licensing.models import DirectoryUser

    user = DirectoryUser.objects.create(
        organisation=organisation,
        upn="theirs@example.com",
        display_name="Theirs",
        usage_location="US",
    )
    return f"/api/v1/users/{user.upn}/licenses"


def _subscription_path(organisation) -> str:
    from licensing.services import seats_add

    # SKUs are the catalogue's; the seats held are the organisation's.
    seats_add(organisation=organisation, sku="AUDIO_CONF", count=2)
    return "/api/v1/subscriptions/AUDIO_CONF/seats"


def _webhook_path(organisation) -> str:
    from webhooks.services.endpoints import endpoint_create

    endpoint, _secret = endpoint_create(
        organisation=organisation, url="https://93.184.215.14/hooks", events=["balance.zero"]
    )
    return f"/api/v1/webhooks/{endpoint.code}"


def _user_caps_path(organisation) -> str:
    return _directory_user_path(organisation).replace("/licenses", "/caps")


OBJECT_PATHS: dict[str, Callable] = {
    "/api/v1/users/{upn}/licenses": _directory_user_path,
    "/api/v1/users/{upn}/caps": _user_caps_path,
    "/api/v1/subscriptions/{sku}/seats": _subscription_path,
    "/api/v1/webhooks/{webhook_id}": _webhook_path,
}


# A well-formed body where the operation's schema requires one: the 404 is about the object.
BODIES = {"/api/v1/users/{upn}/caps": b'{"daily": null, "monthly": null}'}


def _operations() -> list[tuple[str, str, set[str]]]:
    found = []
    for bound in api._get_bound_routers():  # the operations as mounted, with their auth
        for path, view in bound.path_operations.items():
            for operation in view.operations:
                scopes = {scope for cb in operation.auth_callbacks for scope in cb.scopes}
                for method in operation.methods:
                    found.append(
                        (method, f"/api/v1/{bound.prefix}{path}".replace("//", "/"), scopes)
                    )
    return found


OPERATIONS = _operations()


def _call(client: Client, method: str, path: str, **headers):
    url = re.sub(r"\{[^}]+\}", "x", path)
    return client.generic(method, url, b"{}", content_type="application/json", **headers)


def test_every_operation_has_an_auth_scope():
    assert OPERATIONS
    for method, path, scopes in OPERATIONS:
        assert scopes <= {"admin", "platform"} and scopes, (method, path)


def test_every_object_path_has_a_builder():
    assert {path for _m, path, _s in OPERATIONS if "{" in path} == set(OBJECT_PATHS)


@pytest.mark.parametrize(("method", "path", "scopes"), OPERATIONS)
def test_no_key_is_401(client, method, path, scopes):
    response = _call(client, method, path)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(("method", "path", "scopes"), OPERATIONS)
def test_a_key_of_another_scope_is_403(client, org, method, path, scopes):
    for scope in {"admin", "platform"} - scopes:
        response = _call(
            client, method, path, HTTP_AUTHORIZATION=f"Bearer {make_api_key(org, scope)}"
        )
        assert response.status_code == 403


@pytest.mark.parametrize("path", sorted(OBJECT_PATHS))
def test_another_organisations_object_is_404(client, org, other_org, path):
    theirs = OBJECT_PATHS[path](other_org)
    key = make_api_key(org, "admin")
    for method, op_path, _scopes in OPERATIONS:
        if op_path == path:
            response = client.generic(
                method,
                theirs,
                BODIES.get(path, b"{}"),
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {key}",
            )
            assert response.status_code == 404
