from __future__ import annotations

import pytest
from django.test import Client

from billing.services.verify import ledger_verify
from credits_portal.celery import app as celery_app
from credits_portal.embedded import free_port
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


@pytest.fixture(autouse=True)
def _no_process_copies_from_another_test():
    # Each test's database is rolled back, and on_commit never runs in most of them: the rate
    # cards and pool sizes a process keeps must not outlive the test that loaded them.
    from credits_portal import process_cache
    from credits_portal.cache import OUTAGE

    process_cache.clear_all()
    OUTAGE.answered()  # a test that made Redis unreachable leaves the next one asking it


@pytest.fixture(autouse=True)
def _ledger_invariants_hold(request):
    """After every test that touches the database, the ledger invariants hold (DESIGN.md)."""
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    if marker is None and not names & {"db", "transactional_db"}:
        yield
        return
    transactional = "transactional_db" in names or bool(marker and marker.kwargs.get("transaction"))
    # Requested here so that the check below runs before the database is rolled back.
    request.getfixturevalue("transactional_db" if transactional else "db")
    _catalogue_present()
    yield
    assert ledger_verify() == []


@pytest.fixture(autouse=True, scope="session")
def _celery_eager():
    """Tasks run in the test process; tests about the worker start a real one (tests.processes)."""
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield


@pytest.fixture
def smtp_sink(settings):
    """A real SMTP server (aiosmtpd) on a free port; Django sends to it. Yields the messages."""
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller

    received: list = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            message = message_from_bytes(envelope.original_content, policy=policy.default)
            message.envelope_rcpt_tos = list(envelope.rcpt_tos)
            received.append(message)
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield received
    controller.stop()


def _catalogue_present() -> None:
    """The catalogue is data from a migration; a transactional test's flush empties it."""
    import importlib

    from django.apps import apps

    from licensing.models import Product

    if not Product.objects.exists():
        importlib.import_module("licensing.migrations.0002_catalogue").load(apps, None)
        importlib.import_module("licensing.migrations.0003_call_capabilities").load(apps, None)
        importlib.import_module("licensing.migrations.0004_seat_prices").load(apps, None)
