"""Billing emails go through an outbox: written with the transaction that had something to say,
sent after it commits, and sent by the sweep when Redis could not take the task (an email lost
in a Redis outage was a leftover of issue 14)."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from billing.models import Notification
from billing.services.contacts import billing_contact_add
from billing.services.notifications import (
    notification_deliver,
    notifications_resend,
    notify_later,
)
from tests.builders import account_of
from tests.processes import at_once

CONTEXT = {"balance": "0.00"}


@pytest.fixture
def account(org):
    billing_contact_add(organisation=org, email="ap@contoso.example")
    return account_of(org)


def _unqueued(account) -> Notification:
    """Redis does not take the task (enqueue's answer in an outage): the email stays unsent."""
    with (
        mock.patch("credits_portal.celery.enqueue", return_value=False) as enqueue,
        transaction.atomic(),
    ):
        notification = notify_later(account=account, kind="balance_zero", **CONTEXT)
    assert enqueue.called
    return notification


@pytest.mark.django_db(transaction=True)
def test_an_email_is_written_then_sent_after_the_commit(account):
    with transaction.atomic():
        notification = notify_later(account=account, kind="balance_zero", **CONTEXT)
        assert mail.outbox == []
    notification.refresh_from_db()
    assert notification.sent_at is not None and notification.recipients == 1
    assert [m.to for m in mail.outbox] == [["ap@contoso.example"]]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_leaves_no_email(account):
    with pytest.raises(RuntimeError), transaction.atomic():
        notify_later(account=account, kind="balance_zero", **CONTEXT)
        raise RuntimeError
    assert not Notification.objects.exists() and mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_an_email_not_queued_in_a_redis_outage_is_sent_by_the_sweep_once(account):
    notification = _unqueued(account)
    assert mail.outbox == []
    assert notifications_resend() == 0, "not before RESEND_AFTER: its task may be on its way"
    later = timezone.now() + timedelta(minutes=3)
    assert notifications_resend(now=later) == 1
    assert notifications_resend(now=later) == 0
    assert len(mail.outbox) == 1 and "balance" in mail.outbox[0].subject.lower()
    notification.refresh_from_db()
    assert notification.sent_at is not None


@pytest.mark.django_db(transaction=True)
def test_stale_emails_are_not_sent_days_later(account):
    _unqueued(account)
    assert notifications_resend(now=timezone.now() + timedelta(days=4)) == 0
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_an_smtp_failure_leaves_the_email_for_the_next_try(account):
    notification = _unqueued(account)
    with (
        mock.patch(
            "django.core.mail.EmailMultiAlternatives.send", side_effect=OSError("SMTP down")
        ),
        pytest.raises(OSError),
    ):
        notification_deliver(notification_id=notification.pk)
    notification.refresh_from_db()
    assert notification.sent_at is None
    assert notification_deliver(notification_id=notification.pk) == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_the_task_and_the_sweep_at_once_send_one_email(account):
    notification = _unqueued(account)
    later = timezone.now() + timedelta(minutes=3)
    errors = at_once(
        lambda i: (
            notification_deliver(notification_id=notification.pk)
            if i % 2
            else notifications_resend(now=later)
        ),
        10,
    )
    assert errors == []
    assert len(mail.outbox) == 1
