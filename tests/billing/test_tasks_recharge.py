"""A real Celery worker, on the embedded Redis, recharging against localstripe; emails over SMTP."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from billing.models import Invoice, RechargeAttempt
from billing.services.expiry_notice import expiring_funds_notify
from credits_portal.celery import app
from tests.billing.recharge_helpers import spend, turn_on
from tests.builders import account_of, grant
from tests.processes import celery_worker, wait_until


@pytest.fixture
def not_eager():
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_recharges_after_a_debit(org, not_eager):
    turn_on(org)
    grant(org, "25.00")
    with celery_worker("--pool", "prefork", "--concurrency", "2"):
        spend(org, "10.00", "call-1")  # 15.00 < 20.00: the task is queued after the commit
        assert wait_until(
            lambda: RechargeAttempt.objects.filter(
                account__organisation=org, status="succeeded"
            ).exists(),
            timeout=60,
        )
    account = account_of(org)
    assert account.balance == Decimal("70.00")  # 15 + 50 + (20 - 15)
    assert RechargeAttempt.objects.filter(account=account).count() == 1


@pytest.mark.django_db
def test_recharge_emails_reach_an_smtp_server(org, smtp_sink, django_capture_on_commit_callbacks):
    turn_on(org)
    grant(org, "1.00")
    with django_capture_on_commit_callbacks(execute=True):
        spend(org, "1.00", "call-1")  # exactly zero: both emails
    subjects = {m["Subject"]: m for m in smtp_sink}
    zero = subjects["Your Communications Credits balance reached zero"]
    done = subjects["Auto-recharge of 70.00 USD succeeded"]
    assert done.envelope_rcpt_tos == ["ap@contoso.example"] and zero["To"] == "ap@contoso.example"
    text = done.get_body(preferencelist=("plain",)).get_content()
    html = done.get_body(preferencelist=("html",)).get_content()
    assert "New balance: 70.00 USD" in text and "<strong>70.00 USD</strong>" in html
    # Links in emails are absolute: the configured SITE_URL and the reversed path.
    invoice = Invoice.objects.get(account=account_of(org))
    invoice_url = f"{settings.SITE_URL}{reverse('billing:invoice', kwargs={'code': invoice.code})}"
    assert f"({invoice_url})" in text and f'href="{invoice_url}"' in html
    assert f"{settings.SITE_URL}{reverse('billing:credits')}" in text


@pytest.mark.django_db
def test_funds_expiring_within_30_days_are_announced_once(
    org, smtp_sink, django_capture_on_commit_callbacks
):
    from billing.services.contacts import billing_contact_add

    billing_contact_add(organisation=org, email="ap@contoso.example")
    grant(org, "12.00", purchased_at=timezone.now() - timedelta(days=350))
    grant(org, "8.00", purchased_at=timezone.now() - timedelta(days=340))
    grant(org, "100.00")
    with django_capture_on_commit_callbacks(execute=True):
        assert expiring_funds_notify() == 1
        assert expiring_funds_notify() == 0
    (message,) = smtp_sink
    assert message["Subject"] == "20.00 USD of Communications Credits expire soon"
    assert "2 purchases" in message.get_body(preferencelist=("plain",)).get_content()
