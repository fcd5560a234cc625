from __future__ import annotations

import pytest
from django.test import Client

from credits_portal.permissions import Role
from tests.builders import make_member, make_org


@pytest.fixture
def org(db):
    return make_org("contoso", name="Contoso Ltd")


@pytest.fixture
def other_org(db):
    """The outsider: another tenant whose objects must never be reachable from `org`."""
    return make_org("fabrikam", name="Fabrikam GmbH", currency="EUR", country="DE")


@pytest.fixture
def members(org):
    return {role: make_member(org, role) for role in Role.values}


@pytest.fixture
def client_as(members):
    """A signed-in client for a role of `org`: `client_as("billing")`."""

    def build(role: str = Role.GLOBAL) -> Client:
        client = Client()
        client.force_login(members[role])
        return client

    return build


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's cost is for attackers, not for a test suite that makes hundreds of logins.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
