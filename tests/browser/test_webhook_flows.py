"""Settings › Webhooks in a real browser: add a webhook (its secret shown once), send a test
event to a real local receiver, and read the signed delivery in the log."""

from __future__ import annotations

import json

import pytest

from credits_portal.permissions import Role
from tests.browser.conftest import sign_in
from tests.builders import PASSWORD, make_member
from tests.webhooks.receiver import Receiver
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True  # the receiver listens on 127.0.0.1
    running = Receiver().start()
    yield running
    running.stop()


def test_add_a_webhook_and_send_it_a_test_event(page, look, org, receiver):
    sign_in(page, make_member(org, Role.GLOBAL).email, PASSWORD)
    page.click("nav.side >> text=Webhooks")
    assert "No webhooks yet." in page.inner_text("main")
    page.click("main >> text=Add webhook")

    # Refused first: another scheme, and no event chosen; each error beside its field.
    page.fill("#id_url", "ftp://files.example.com/drop")
    page.click("main button[type=submit]")
    assert "Only http:// and https://" in page.inner_text("#id_url-error")
    assert "Choose at least one event." in page.inner_text("#id_events-error")
    look("webhook-form-errors")

    page.fill("#id_url", receiver.url)
    page.get_by_label("balance.zero").check()
    page.get_by_label("recharge.failed").check()
    look("webhook-form")
    page.click("main button[type=submit]")

    assert page.inner_text("h1") == "Webhook added"
    assert "not shown again" in page.inner_text("[role=alert]")
    secret = page.input_value("#signing-secret")
    endpoint = WebhookEndpoint.objects.get(organisation=org)
    assert secret.startswith("whsec_") and endpoint.events == ["balance.zero", "recharge.failed"]
    look("webhook-created")

    page.click("text=Open the webhook")
    assert "Nothing sent yet." in page.inner_text("main")
    assert secret not in page.content(), "the secret is shown once, when the webhook is added"
    page.click("main button:has-text('Send test event')")
    assert "queued; its delivery is logged below" in page.inner_text(".messages")

    [got] = receiver.received
    assert got.signature_valid(secret)
    event_id = json.loads(got.body)["id"]
    row = page.locator("main tbody tr").filter(has_text=event_id)
    assert "webhook.test" in row.inner_text() and "Delivered" in row.inner_text()
    assert "200" in row.inner_text()
    look("webhook-log")

    page.click("nav.side >> text=Webhooks")
    listed = page.locator("main tbody tr").filter(has_text=receiver.url)
    assert (
        "enabled" in listed.inner_text() and "balance.zero, recharge.failed" in listed.inner_text()
    )
