"""A stranger cannot lock an admin out: failures count per account and client address, the
address as the trusted proxies saw it (finding 8 of issue 14)."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from credits_portal.addresses import client_address
from credits_portal.models import AuditEvent
from credits_portal.permissions import Role
from tests.builders import PASSWORD

pytestmark = pytest.mark.django_db
PROXY = "172.18.0.5"  # the compose proxy: REMOTE_ADDR of every request behind it


def login(email: str, password: str, **meta):
    return Client().post(reverse("login"), {"username": email, "password": password}, **meta)


def test_failures_from_one_address_do_not_lock_the_account_for_another(members):
    email = members[Role.GLOBAL].email
    for _ in range(5):
        login(email, "wrong-password-here", REMOTE_ADDR="203.0.113.9")
    assert login(email, PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 429
    assert login(email, PASSWORD, REMOTE_ADDR="198.51.100.20").status_code == 302


def test_behind_the_proxy_clients_are_counted_by_their_forwarded_address(members, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    email = members[Role.GLOBAL].email
    stranger = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    # The admin's own client wrote an X-Forwarded-For too: only the proxy's entry counts.
    admin = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "203.0.113.9, 198.51.100.20"}
    for _ in range(5):
        login(email, "wrong-password-here", **stranger)
    assert login(email, PASSWORD, **stranger).status_code == 429
    assert login(email, PASSWORD, **admin).status_code == 302


def test_a_forged_forwarded_address_does_not_escape_the_count(members, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    email = members[Role.GLOBAL].email
    for attempt in range(5):
        # The stranger varies the part of the header they write; the proxy appends the truth.
        forged = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": f"10.0.0.{attempt}, 203.0.113.9"}
        login(email, "wrong-password-here", **forged)
    again = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "10.9.9.9, 203.0.113.9"}
    assert login(email, PASSWORD, **again).status_code == 429


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (0, "203.0.113.9", PROXY),  # no proxy trusted: the header is the client's word
        (1, "", PROXY),  # reached the portal directly
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "1.2.3.4, 203.0.113.9", "203.0.113.9"),
        (2, "1.2.3.4, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "203.0.113.9", "203.0.113.9"),  # only the inner proxy was passed
        (1, "not-an-address\x00", PROXY),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_address(settings, count, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_the_audit_log_records_the_client_address(client_as, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    client = client_as(Role.GLOBAL)
    response = client.post(
        reverse("api_key_create"),
        {"name": "platform", "scope": "platform"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )
    assert response.status_code == 200
    assert AuditEvent.objects.get(action="api_key.created").ip_address == "203.0.113.9"
