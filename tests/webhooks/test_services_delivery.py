"""Deliveries to a real local HTTP server: signed, deduplicated by event id, retried with
back-off after 500s and time-outs for a day, and the endpoint disabled (with an email) when a
day of attempts all failed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from billing.services.contacts import billing_contact_add
from credits_portal.events import publish
from credits_portal.permissions import Role
from tests.builders import make_member
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from webhooks.services.delivery import MAX_ATTEMPTS, attempt_offsets, deliveries_sweep, retry_delay
from webhooks.services.endpoints import endpoint_create, endpoint_send_test_event
from webhooks.services.events import event_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_after_commit(django_capture_on_commit_callbacks):
    """Run what the code queues for after its commit (the delivery tasks, eagerly here)."""

    def run(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    return run


def _endpoint(org, url, events=("recharge.failed",)):
    return endpoint_create(organisation=org, url=url, events=list(events))


def _announce(run_after_commit, org, key="recharge.failed:r1", type="recharge.failed"):
    return run_after_commit(
        event_record,
        organisation_id=org.pk,
        type=type,
        key=key,
        data={"amount": "50.00", "currency": "USD", "code": "card_declined"},
    )


def _sweep_at(run_after_commit, when):
    with time_machine.travel(when, tick=False):
        return run_after_commit(deliveries_sweep)


def test_a_delivery_is_signed_and_its_body_is_the_event(org, receiver, run_after_commit):
    endpoint, secret = _endpoint(org, receiver.url)
    event = _announce(run_after_commit, org)

    [got] = receiver.received
    assert got.path == "/hooks/credits"
    assert got.headers["Content-Type"] == "application/json"
    assert got.signature_valid(secret)
    assert not got.signature_valid("whsec_another-endpoints-secret")
    body = json.loads(got.body)
    assert body == {
        "id": event.public_id,
        "type": "recharge.failed",
        "created_at": event.created_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "data": {"amount": "50.00", "currency": "USD", "code": "card_declined"},
    }
    timestamp = int(got.headers["Webhook-Signature"].split(",")[0].removeprefix("t="))
    assert abs(timestamp - timezone.now().timestamp()) < 60  # unix seconds, not milliseconds
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.response_code, delivery.attempts) == ("succeeded", 200, 1)
    assert delivery.next_attempt_at is None


def test_a_tampered_body_fails_the_signature(org, receiver, run_after_commit):
    _unused, secret = _endpoint(org, receiver.url)
    _announce(run_after_commit, org)
    [got] = receiver.received
    got.body = got.body.replace(b"50.00", b"5000.00")
    assert not got.signature_valid(secret)


def test_the_same_key_twice_is_one_event_with_one_delivery_per_endpoint(
    org, receiver, run_after_commit
):
    _endpoint(org, receiver.url)
    _endpoint(org, receiver.url + "?second")
    _endpoint(org, receiver.url + "?other", events=["invoice.issued"])  # not subscribed

    def announce_twice():
        for _ in range(2):  # a retried task announces the same occurrence again
            publish(
                organisation_id=org.pk, type="recharge.failed", key="recharge.failed:r1", data={}
            )

    run_after_commit(announce_twice)

    event = WebhookEvent.objects.get()
    assert WebhookDelivery.objects.filter(event=event).count() == 2
    assert len(receiver.received) == 2
    assert {json.loads(r.body)["id"] for r in receiver.received} == {event.public_id}
    assert sorted(r.path for r in receiver.received) == ["/hooks/credits", "/hooks/credits?second"]

    _announce(run_after_commit, org)  # later still: nothing new is sent
    assert WebhookEvent.objects.count() == 1 and len(receiver.received) == 2


def test_the_same_key_in_another_organisation_is_another_event(
    org, other_org, receiver, run_after_commit
):
    _endpoint(org, receiver.url)
    _endpoint(other_org, receiver.url)
    _announce(run_after_commit, org)
    _announce(run_after_commit, other_org)
    assert WebhookEvent.objects.count() == 2
    assert len({json.loads(r.body)["id"] for r in receiver.received}) == 2


def test_a_disabled_endpoint_and_other_types_get_nothing(org, receiver, run_after_commit):
    endpoint, _ = _endpoint(org, receiver.url)
    _announce(run_after_commit, org, key="funds", type="funds.expiring")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(status="disabled")
    _announce(run_after_commit, org)
    assert receiver.received == [] and not WebhookDelivery.objects.exists()


def test_500s_are_retried_with_back_off_until_a_2xx(org, receiver, run_after_commit):
    endpoint, secret = _endpoint(org, receiver.url)
    receiver.script = [500, 503]
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        event = _announce(run_after_commit, org)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 1, 500)
    assert delivery.next_attempt_at == start + timedelta(minutes=1)

    # Not due yet: the sweep leaves it.
    assert _sweep_at(run_after_commit, start + timedelta(seconds=59)) == 0
    assert len(receiver.received) == 1

    assert _sweep_at(run_after_commit, start + timedelta(seconds=61)) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 2, 503)
    # Twice as long after the second failure.
    assert delivery.next_attempt_at == start + timedelta(seconds=61) + timedelta(minutes=2)
    assert _sweep_at(run_after_commit, start + timedelta(minutes=2)) == 0

    assert _sweep_at(run_after_commit, start + timedelta(minutes=3, seconds=2)) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 3, 200)
    assert delivery.next_attempt_at is None
    # The same event, the same body, each attempt signed at its own time.
    assert len(receiver.received) == 3
    assert {r.body for r in receiver.received} == {receiver.received[0].body}
    assert json.loads(receiver.received[0].body)["id"] == event.public_id
    stamps = [r.headers["Webhook-Signature"].split(",")[0] for r in receiver.received]
    assert len(set(stamps)) == 3
    with time_machine.travel(start + timedelta(minutes=3, seconds=2), tick=False):
        assert receiver.received[-1].signature_valid(secret)
    endpoint.refresh_from_db()
    assert endpoint.failure_streak == 0 and endpoint.last_success_at is not None


def test_a_timeout_is_a_failure_retried_later(org, receiver, run_after_commit, settings):
    settings.WEBHOOKS_TIMEOUT = 0.5
    _endpoint(org, receiver.url)
    receiver.script = [("sleep", 2.0)]
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _announce(run_after_commit, org)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.response_code is None
    assert delivery.error == "No answer within 0.5 s."
    assert delivery.next_attempt_at == start + timedelta(minutes=1)

    _sweep_at(run_after_commit, start + timedelta(minutes=1, seconds=1))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 2, 200)
    assert delivery.error == ""


def test_a_closed_port_is_a_failure_not_an_error(org, settings, run_after_commit):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    from credits_portal.embedded import free_port

    _endpoint(org, f"http://127.0.0.1:{free_port()}/nobody-listens")
    _announce(run_after_commit, org)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.error.startswith("Could not connect")


def test_the_back_off_doubles_from_a_minute_to_four_hours_for_a_day():
    assert [retry_delay(n) for n in (1, 2, 3, 8, 9, 12)] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
        timedelta(minutes=128),
        timedelta(hours=4),
        timedelta(hours=4),
    ]
    offsets = attempt_offsets()
    assert MAX_ATTEMPTS == len(offsets) == 13
    assert offsets[-1] <= timedelta(hours=24) < offsets[-1] + retry_delay(len(offsets))


def _fail_for_a_day(run_after_commit, delivery, start):
    """Every due attempt, at its time, until the delivery stops being pending."""
    for _ in range(MAX_ATTEMPTS + 2):
        delivery.refresh_from_db()
        if delivery.status != "pending":
            return
        _sweep_at(run_after_commit, delivery.next_attempt_at + timedelta(seconds=1))
    raise AssertionError("still pending after a day")


def test_a_day_of_failures_disables_the_endpoint_and_emails(org, receiver, run_after_commit):
    make_member(org, Role.GLOBAL, email="global@contoso.example")
    make_member(org, Role.BILLING, email="billing@contoso.example")
    billing_contact_add(organisation=org, email="ap@contoso.example")
    endpoint, _ = _endpoint(org, receiver.url, events=["recharge.failed", "invoice.issued"])
    receiver.default = 500
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _announce(run_after_commit, org)
    delivery = WebhookDelivery.objects.get()
    # Another event later, still pending when the first one gives up.
    with time_machine.travel(start + timedelta(hours=20), tick=False):
        _announce(run_after_commit, org, key="invoice:1", type="invoice.issued")
    later = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    later_attempts = WebhookDelivery.objects.get(pk=later.pk).attempts
    mail.outbox.clear()

    for _ in range(MAX_ATTEMPTS + 2):
        delivery.refresh_from_db()
        if delivery.status != "pending":
            break
        when = delivery.next_attempt_at + timedelta(seconds=1)
        with time_machine.travel(when, tick=False):
            # Only the first delivery is due at its times here; the later one runs in between.
            run_after_commit(deliveries_sweep)

    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == MAX_ATTEMPTS == 13
    assert delivery.response_code == 500
    endpoint.refresh_from_db()
    assert endpoint.status == "disabled"
    assert "All 13 attempts" in endpoint.disabled_reason
    assert "HTTP 500" in endpoint.disabled_reason
    later.refresh_from_db()
    assert later.status == "failed" and later.error == "Not sent: the endpoint was disabled."
    assert later.attempts >= later_attempts

    [email] = mail.outbox
    assert sorted(email.to) == ["ap@contoso.example", "global@contoso.example"]
    assert "Webhook disabled" in email.subject and receiver.url in email.subject
    assert "All 13 attempts" in email.body
    assert f"/settings/webhooks/{endpoint.code}/" in email.body

    # Nothing more is sent to it, and new events do not reach it.
    sent = len(receiver.received)
    _sweep_at(run_after_commit, timezone.now() + timedelta(days=2))
    _announce(run_after_commit, org, key="recharge.failed:r2")
    assert len(receiver.received) == sent


def test_a_success_meanwhile_keeps_the_endpoint_enabled(org, receiver, run_after_commit):
    endpoint, _ = _endpoint(org, receiver.url, events=["recharge.failed", "invoice.issued"])
    start = timezone.now()
    receiver.default = 500
    with time_machine.travel(start, tick=False):
        _announce(run_after_commit, org)
    delivery = WebhookDelivery.objects.get()
    # The receiver takes other events but refuses this one (a bug on its side, say).
    receiver.default = 200
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        _announce(run_after_commit, org, key="invoice:1", type="invoice.issued")
    receiver.default = 500
    _fail_for_a_day(run_after_commit, delivery, start)
    delivery.refresh_from_db()
    endpoint.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == MAX_ATTEMPTS
    assert endpoint.status == "enabled"


def test_a_test_event_goes_to_its_endpoint_alone(org, receiver, run_after_commit):
    endpoint, secret = _endpoint(org, receiver.url)
    _endpoint(org, receiver.url + "?other")
    delivery = run_after_commit(endpoint_send_test_event, endpoint=endpoint)
    [got] = receiver.received
    assert got.path == "/hooks/credits" and got.signature_valid(secret)
    assert json.loads(got.body)["type"] == "webhook.test"
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.response_code == 200


def test_a_delivery_held_by_another_worker_is_left_alone(org, receiver, run_after_commit):
    _endpoint(org, receiver.url)
    receiver.script = [500]
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _announce(run_after_commit, org)
    delivery = WebhookDelivery.objects.get()
    # Another worker claimed it at its time and is still asking the endpoint.
    due = delivery.next_attempt_at
    WebhookDelivery.objects.filter(pk=delivery.pk).update(lease_until=due + timedelta(minutes=2))
    assert _sweep_at(run_after_commit, due + timedelta(seconds=5)) == 0
    # A worker that died: its lease runs out and the sweep takes the delivery again.
    assert _sweep_at(run_after_commit, due + timedelta(minutes=3)) == 1
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 2


def test_https_checks_the_certificate_against_the_name(org, tls_receiver, run_after_commit):
    """The connection goes to the address that was checked, yet TLS verifies the URL's name:
    an untrusted (self-signed) certificate fails the attempt."""
    _endpoint(org, tls_receiver.url)
    _announce(run_after_commit, org)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.response_code is None
    assert delivery.error.startswith("TLS failed") and "certificate" in delivery.error
    assert tls_receiver.received == []


def test_https_to_a_trusted_certificate_delivers(org, tls_receiver, run_after_commit, monkeypatch):
    from tests.webhooks.receiver import CERT_FILE

    monkeypatch.setenv("SSL_CERT_FILE", str(CERT_FILE))  # trust the receiver's certificate
    _unused, secret = _endpoint(org, tls_receiver.url)
    _announce(run_after_commit, org)
    [got] = tls_receiver.received
    assert got.signature_valid(secret)
    assert got.headers["Host"] == tls_receiver.url.split("/")[2]
    assert WebhookDelivery.objects.get().status == "succeeded"
