"""Issue 19, item 1: the runway alert measures the balance against the funding planner's pace,
refreshed when the alerts are saved and by the hourly sweep; a debit checks it at once."""

from __future__ import annotations

from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from billing.models import AlertKind, BalanceAlert, BalanceAlertSent
from billing.services.balance_alerts import alert_settings_save
from billing.services.contacts import billing_contact_add
from billing.services.ledger import funds_debit
from credits_portal.celery import app
from credits_portal.permissions import Role
from tests.builders import account_of, grant, make_org
from tests.usage.test_services_planner import NOW, spending  # noqa: F401  (0.23 USD a day)
from usage import tasks

pytestmark = pytest.mark.django_db


def test_the_runway_alert_fires_at_the_planners_pace_once_and_re_arms(
    spending,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    billing_contact_add(organisation=spending, email="ap@contoso.example")
    account = account_of(spending)
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        # 97.70 at 0.23 a day is 424 days: above 90.
        alert_settings_save(account=account, low_balance=[], runway_days=90)
    runway = BalanceAlert.objects.get(account=account, kind=AlertKind.RUNWAY)
    assert runway.daily_spend == Decimal("0.23") and runway.fired_at is None
    assert mail.outbox == []

    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        funds_debit(account=account, amount=Decimal("80.00"), reference="big-call")  # 17.70
    (email,) = mail.outbox
    assert email.subject == "Communications Credits: about 76 days left at the recent pace"
    assert "pace of 0.23 USD a day" in email.body and "17.70 USD" in email.body

    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        assert tasks.check_balance_alerts.delay().get() == 0  # the hourly sweep: same episode
    assert len(mail.outbox) == 1

    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        grant(spending, "100.00", reference="top-up")  # 117.70: 511 days
        assert BalanceAlert.objects.get(pk=runway.pk).fired_at is None
        funds_debit(account=account, amount=Decimal("100.00"), reference="bigger-call")
    assert len(mail.outbox) == 2
    assert BalanceAlertSent.objects.filter(account=account, kind="runway").count() == 2


def test_the_sweep_skips_new_commerce_and_accounts_without_alerts(rated):
    newco = make_org("newco", commerce="new")
    BalanceAlert.objects.filter(account=account_of(rated)).delete()
    assert tasks.check_balance_alerts.delay().get() == 0
    assert not BalanceAlert.objects.filter(account=account_of(newco)).exists()


def test_the_sweep_is_scheduled_hourly():
    entry = app.conf.beat_schedule["check-balance-alerts"]
    assert entry["task"] == "usage.tasks.check_balance_alerts"
    assert entry["schedule"].minute == {10}


def test_the_alerts_page_shows_the_runway_now(spending, client_as):  # noqa: F811
    with time_machine.travel(NOW, tick=False):
        page = client_as(Role.BILLING).get(reverse("billing:alerts"))
    assert page.status_code == 200
    assert b"about 424 days" in page.content and b"0.23 USD" in page.content
