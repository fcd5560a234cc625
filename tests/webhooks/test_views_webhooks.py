"""Settings › Webhooks: global admins only, the secret shown once, the delivery log, a test
event, re-enabling, removal; hostile input a 4xx naming the field."""

from __future__ import annotations

import pytest
from django.urls import reverse

from credits_portal.permissions import Role
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services.endpoints import endpoint_create

pytestmark = pytest.mark.django_db

URL = "https://93.184.215.14/hooks/credits"


def test_add_a_webhook_and_see_its_secret_once(client_as, org):
    client = client_as(Role.GLOBAL)
    assert b"No webhooks yet." in client.get(reverse("webhooks:list")).content
    response = client.post(
        reverse("webhooks:create"), {"url": URL, "events": ["balance.zero", "recharge.failed"]}
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get(organisation=org)
    assert endpoint.events == ["balance.zero", "recharge.failed"]
    assert endpoint.secret in response.content.decode()
    assert "not shown again" in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0")

    for page in [reverse("webhooks:list"), reverse("webhooks:endpoint", args=[endpoint.code])]:
        shown = client.get(page)
        assert shown.status_code == 200 and URL in shown.content.decode()
        assert endpoint.secret not in shown.content.decode()


def test_the_nav_shows_webhooks_to_global_admins_only(client_as, org):
    link = f'href="{reverse("webhooks:list")}"'
    assert link in client_as(Role.GLOBAL).get(reverse("home")).content.decode()
    for role in (Role.BILLING, Role.LICENSE, Role.REPORTS):
        client = client_as(role)
        assert link not in client.get(reverse("home")).content.decode()
        assert client.get(reverse("webhooks:list")).status_code == 403
        assert client.post(reverse("webhooks:create"), {"url": URL}).status_code == 403
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("data", "status", "field", "words"),
    [
        ({"url": "nul\x00", "events": ["balance.zero"]}, 400, "url", "control characters"),
        ({"url": "x" * 10_000, "events": ["balance.zero"]}, 400, "url", "at most"),
        ({"url": URL, "events": ["balance.nope"]}, 400, "events", "not one of the available"),
        ({"url": URL}, 400, "events", "at least one event"),
        ({"url": "http://169.254.169.254/", "events": ["balance.zero"]}, 400, "url", "link-local"),
        (
            {"url": "http://user:pw@93.184.215.14/", "events": ["cap.reached"]},
            400,
            "url",
            "password",
        ),
        ({"url": "javascript:alert(1)", "events": ["cap.reached"]}, 400, "url", "Only http"),
        (
            {"url": "https://a.example/" + "y" * 2_000, "events": ["cap.reached"]},
            400,
            "url",
            "2000",
        ),
    ],
)
def test_hostile_input_is_a_4xx_naming_the_field(client_as, org, data, status, field, words):
    response = client_as(Role.GLOBAL).post(reverse("webhooks:create"), data)
    assert response.status_code == status
    text = response.content.decode()
    # The form's error next to the field, or the edge's 400 naming it.
    assert f'id="id_{field}-error"' in text or f"<strong>{field}</strong>" in text
    assert words.lower() in text.lower()
    assert not WebhookEndpoint.objects.exists()


def test_the_delivery_log_and_a_test_event(
    client_as, org, receiver, django_capture_on_commit_callbacks
):
    endpoint, secret = endpoint_create(organisation=org, url=receiver.url, events=["cap.reached"])
    client = client_as(Role.GLOBAL)
    page = reverse("webhooks:endpoint", args=[endpoint.code])
    assert "Nothing sent yet." in client.get(page).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("webhooks:test", args=[endpoint.code]))
    assert response.status_code == 302 and response["Location"] == page
    [got] = receiver.received
    assert got.signature_valid(secret)
    delivery = WebhookDelivery.objects.get()
    log = client.get(page).content.decode()
    assert "webhook.test" in log and delivery.event.public_id in log
    row = log.split(delivery.event.public_id)[-1].split("</tr>")[0]
    assert "Delivered" in row and ">200<" in row


def test_a_disabled_endpoint_says_why_and_can_be_enabled_again(client_as, org):
    endpoint, _ = endpoint_create(organisation=org, url=URL, events=["cap.reached"])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        status="disabled", disabled_reason="All 13 attempts failed.", failure_streak=13
    )
    client = client_as(Role.GLOBAL)
    page = reverse("webhooks:endpoint", args=[endpoint.code])
    text = client.get(page).content.decode()
    assert "All 13 attempts failed." in text and "Enable again" in text
    assert "Send test event" not in text
    client.post(reverse("webhooks:test", args=[endpoint.code]))
    assert not WebhookDelivery.objects.exists()
    assert client.post(reverse("webhooks:enable", args=[endpoint.code])).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failure_streak == 0 and endpoint.disabled_reason == ""


def test_remove_asks_first(client_as, org):
    endpoint, _ = endpoint_create(organisation=org, url=URL, events=["cap.reached"])
    client = client_as(Role.GLOBAL)
    remove = reverse("webhooks:delete", args=[endpoint.code])
    assert "Remove the webhook" in client.get(remove).content.decode()
    assert WebhookEndpoint.objects.exists()
    assert client.post(remove)["Location"] == reverse("webhooks:list")
    assert not WebhookEndpoint.objects.exists()


def test_another_organisations_endpoint_is_404(client_as, org, other_org):
    theirs, _ = endpoint_create(organisation=other_org, url=URL, events=["cap.reached"])
    client = client_as(Role.GLOBAL)
    for name in ("webhooks:endpoint", "webhooks:delete"):
        assert client.get(reverse(name, args=[theirs.code])).status_code == 404
    for name in ("webhooks:test", "webhooks:enable", "webhooks:delete"):
        assert client.post(reverse(name, args=[theirs.code])).status_code == 404
    assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()
    assert not WebhookDelivery.objects.exists()
    assert URL not in client.get(reverse("webhooks:list")).content.decode()
