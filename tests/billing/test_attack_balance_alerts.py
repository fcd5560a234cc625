"""Adversarial: fifty debits at once carry the balance across a threshold: one alert, one email,
one event (the account's row lock decides who fires it)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail

from billing.models import BalanceAlert, BalanceAlertSent
from billing.services.balance_alerts import alert_settings_save
from billing.services.contacts import billing_contact_add
from billing.services.ledger import funds_debit
from billing.services.verify import ledger_verify
from credits_portal.events import event_published
from tests.builders import account_of, grant
from tests.processes import at_once

pytestmark = pytest.mark.django_db(transaction=True)


def test_fifty_concurrent_debits_crossing_a_threshold_send_one_email(org):
    billing_contact_add(organisation=org, email="ap@contoso.example")
    grant(org, "100.00", reference="opening")
    alert_settings_save(account=account_of(org), low_balance=["50"], runway_days=None)
    events: list[str] = []

    def receive(sender, type, key, **kwargs):
        events.append(key)

    event_published.connect(receive, dispatch_uid="attack-balance-alerts", weak=False)
    mail.outbox = []
    try:
        failures = at_once(
            lambda n: funds_debit(
                account=account_of(org), amount=Decimal("1.50"), reference=f"call-{n}"
            ),
            50,
        )
    finally:
        event_published.disconnect(dispatch_uid="attack-balance-alerts")
    assert failures == []
    assert account_of(org).balance == Decimal("25.00")
    assert BalanceAlertSent.objects.count() == 1
    assert BalanceAlert.objects.get(account=account_of(org)).fired_at is not None
    assert [m.subject for m in mail.outbox] == ["Communications Credits balance below 50.00 USD"]
    assert events == [BalanceAlertSent.objects.get().key]
    assert ledger_verify() == []  # the alerts moved no money
