from __future__ import annotations

import pytest
from django.urls import reverse

from credits_portal.models import ApiKey
from credits_portal.permissions import Role
from credits_portal.services import api_key_authenticate

pytestmark = pytest.mark.django_db


def test_create_shows_the_key_once_and_stores_only_its_hash(client_as, org):
    client = client_as(Role.GLOBAL)
    response = client.post(
        reverse("api_key_create"), {"name": "SBC cluster EU", "scope": "platform"}
    )
    assert response.status_code == 200
    plain = response.context["plain"]
    assert plain.encode() in response.content
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(organisation=org)
    assert (key.name, key.scope) == ("SBC cluster EU", "platform")
    assert plain not in key.secret_hash and api_key_authenticate(plain) == key
    listing = client.get(reverse("api_key_list"))
    assert b"SBC cluster EU" in listing.content and plain.encode() not in listing.content


def test_create_refuses_a_missing_name_or_bad_scope(client_as, org):
    client = client_as(Role.GLOBAL)
    response = client.post(reverse("api_key_create"), {"name": "", "scope": "root"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"name", "scope"}
    assert not ApiKey.objects.exists()


def test_revoke_asks_first_then_revokes(client_as, org):
    client = client_as(Role.GLOBAL)
    client.post(reverse("api_key_create"), {"name": "k", "scope": "admin"})
    key = ApiKey.objects.get()
    url = reverse("api_key_revoke", args=[key.prefix])
    assert b"Revoke" in client.get(url).content
    key.refresh_from_db()
    assert key.revoked_at is None, "GET only asks"
    assert client.post(url).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_a_cross_site_post_is_refused(members, org):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(members[Role.GLOBAL])
    response = client.post(reverse("api_key_create"), {"name": "evil", "scope": "admin"})
    assert response.status_code == 403
    assert not ApiKey.objects.exists()
