"""The webhooks' tasks run on the notifications queue, the sweep is in the beat schedule, and
the same occurrence announced by concurrent workers is one event with one delivery."""

from __future__ import annotations

import json

import pytest

from credits_portal.celery import QUEUE_NOTIFICATIONS, app
from tests.processes import at_once
from webhooks.models import WebhookDelivery, WebhookEvent
from webhooks.services.endpoints import endpoint_create
from webhooks.services.events import event_record


def _queue(task: str) -> str:
    return app.amqp.router.route({}, task)["queue"].name


def test_the_tasks_are_on_the_notifications_queue_and_the_sweep_runs_every_minute():
    app.loader.import_default_modules()
    for task in (
        "webhooks.tasks.deliver_webhook",
        "webhooks.tasks.sweep_webhook_deliveries",
        "webhooks.tasks.notify_endpoint_disabled",
    ):
        assert task in app.tasks, task
        assert _queue(task) == QUEUE_NOTIFICATIONS, task
    [sweep] = [
        entry
        for entry in app.conf.beat_schedule.values()
        if entry["task"] == "webhooks.tasks.sweep_webhook_deliveries"
    ]
    assert sweep["schedule"] == 60.0


@pytest.mark.django_db(transaction=True)
def test_concurrent_announcements_of_one_occurrence_are_one_event(org, receiver):
    endpoint_create(organisation=org, url=receiver.url, events=["recharge.failed"])

    def announce(i: int) -> None:
        event_record(
            organisation_id=org.pk,
            type="recharge.failed",
            key="recharge.failed:same",
            data={"worker": i},
        )

    assert at_once(announce, 8) == []
    event = WebhookEvent.objects.get()
    assert WebhookDelivery.objects.get(event=event).status == "succeeded"
    assert [json.loads(r.body)["id"] for r in receiver.received] == [event.public_id]
