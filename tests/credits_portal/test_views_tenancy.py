"""Every portal URL: anonymous → login, roles → the permission matrix, another tenant → 404.

The table below must name every URL pattern of the portal, so a new page cannot be added
without saying who may open it and proving that another organisation's objects stay hidden.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from billing.services.contacts import billing_contact_add
from credits_portal import services
from credits_portal.permissions import Role

pytestmark = pytest.mark.django_db

PUBLIC = {
    "login",
    "logout",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "healthz",
}
ANY_MEMBER = set(Role.values)
BILLING = {Role.GLOBAL, Role.BILLING}
GLOBAL = {Role.GLOBAL}


def _objects(organisation) -> dict[str, str]:
    key, _ = services.api_key_create(organisation=organisation, name="k", scope="platform")
    contact = billing_contact_add(
        organisation=organisation, email=f"ap@{organisation.slug}.example"
    )
    return {"api_key": key.prefix, "contact": str(contact.code)}


# name → (roles that may open it, URL builder given the objects of an organisation, POST-only?)
PAGES: dict[str, tuple[set[str], Callable[[dict], str], bool]] = {
    "home": (ANY_MEMBER, lambda o: reverse("home"), False),
    "password_change": (ANY_MEMBER, lambda o: reverse("password_change"), False),
    "password_change_done": (ANY_MEMBER, lambda o: reverse("password_change_done"), False),
    "switch_organisation": (ANY_MEMBER, lambda o: reverse("switch_organisation"), True),
    "api_key_list": (GLOBAL, lambda o: reverse("api_key_list"), False),
    "api_key_create": (GLOBAL, lambda o: reverse("api_key_create"), False),
    "api_key_revoke": (GLOBAL, lambda o: reverse("api_key_revoke", args=[o["api_key"]]), False),
    "billing:contact_list": (BILLING, lambda o: reverse("billing:contact_list"), False),
    "billing:contact_add": (BILLING, lambda o: reverse("billing:contact_add"), False),
    "billing:contact_remove": (
        BILLING,
        lambda o: reverse("billing:contact_remove", args=[o["contact"]]),
        False,
    ),
}
OBJECT_PAGES = {"api_key_revoke", "billing:contact_remove"}


def _portal_url_names(resolver: URLResolver | None = None, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in ("admin", "api"):
                continue  # Django admin is for operators (staff); the API has its own walk
            names |= _portal_url_names(
                entry, f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            )
        elif isinstance(entry, URLPattern) and entry.name:
            names.add(prefix + entry.name)
    return names


def test_every_portal_url_is_in_the_table():
    assert _portal_url_names() == set(PAGES) | PUBLIC


@pytest.mark.parametrize("name", sorted(PAGES))
def test_anonymous_is_sent_to_login(name, org):
    _roles, url, post_only = PAGES[name]
    client = Client()
    response = client.post(url(_objects(org))) if post_only else client.get(url(_objects(org)))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize("name", sorted(set(PAGES) - {"switch_organisation"}))
def test_roles_follow_the_permission_matrix(name, role, client_as, org):
    allowed, url, _post_only = PAGES[name]
    response = client_as(role).get(url(_objects(org)))
    assert response.status_code == (200 if role in allowed else 403)


@pytest.mark.parametrize("name", sorted(OBJECT_PAGES))
def test_another_organisations_objects_answer_404(name, client_as, org, other_org):
    _allowed, url, _post_only = PAGES[name]
    theirs = _objects(other_org)
    client = client_as(Role.GLOBAL)
    assert client.get(url(theirs)).status_code == 404
    assert client.post(url(theirs)).status_code == 404
    # …and nothing happened to them.
    assert other_org.api_keys.get().revoked_at is None
    assert other_org.billing_contacts.count() == 1
