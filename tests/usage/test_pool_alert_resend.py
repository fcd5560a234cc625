"""A pool alert whose email was not queued (Redis unreachable) is sent by the sweep, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from billing.services.contacts import billing_contact_add
from usage.models import PoolAlert, PoolUsage
from usage.services.pool_alerts import pool_alert_send, pool_alerts_resend
from usage.services.pools import month_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_unsent_pool_alert_is_sent_by_the_sweep_once(org):
    billing_contact_add(organisation=org, email="ap@contoso.example")
    now = timezone.now()
    alert = PoolAlert.objects.create(
        organisation=org,
        month=month_of(now),
        category=PoolUsage.Category.DOMESTIC,
        country="GB",
        threshold=80,
        used=960,
        size=1200,
        created_at=now - timedelta(minutes=3),
    )
    assert pool_alerts_resend(now=now) == 1
    assert pool_alerts_resend(now=now) == 0
    assert pool_alert_send(alert_id=alert.pk) == 0, "sent already"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ap@contoso.example"]
    alert.refresh_from_db()
    assert alert.sent_at is not None
