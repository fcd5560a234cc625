"""Issue 19, item 1: low-balance alerts in money and in days of runway fire once per episode,
re-arm when the balance is back at or above, email the billing contacts and announce an event."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail

from billing.exceptions import BillingError
from billing.models import AlertKind, BalanceAlert, BalanceAlertSent
from billing.services.balance_alerts import (
    DEFAULT_RUNWAY_DAYS,
    alert_settings,
    alert_settings_save,
    alerts_refresh,
)
from billing.services.contacts import billing_contact_add
from billing.services.ledger import funds_debit
from billing.services.verify import ledger_verify
from credits_portal.events import event_published
from tests.builders import account_of, grant, make_org

pytestmark = pytest.mark.django_db


@pytest.fixture
def events():
    """The events announced (after commit), as (type, key, data)."""
    seen: list[tuple] = []

    def receive(sender, organisation_id, type, key, data, **kwargs):
        seen.append((organisation_id, type, key, data))

    event_published.connect(receive, dispatch_uid="test-balance-alerts")
    yield seen
    event_published.disconnect(dispatch_uid="test-balance-alerts")


@pytest.fixture
def funded(org, django_capture_on_commit_callbacks):
    """contoso with a billing contact and 100.00 USD; `run(f)` commits what f does."""
    billing_contact_add(organisation=org, email="ap@contoso.example")
    grant(org, "100.00", reference="opening")

    def run(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    org.run = run
    mail.outbox = []
    return org


_calls = iter(range(1, 10_000))


def debit(org, amount: str):
    return org.run(
        funds_debit,
        account=account_of(org),
        amount=Decimal(amount),
        reference=f"call-{next(_calls)}",
    )


def test_a_new_organisation_has_one_runway_alert_of_a_week_and_new_commerce_none(db):
    legacy = make_org("legacy-co")
    assert alert_settings(account_of(legacy)).low_balance == []
    assert alert_settings(account_of(legacy)).runway_days == DEFAULT_RUNWAY_DAYS == 7
    newco = make_org("newco", commerce="new")
    assert not BalanceAlert.objects.filter(account=account_of(newco)).exists()


def test_low_balance_alerts_fire_once_per_episode_and_re_arm(funded, events):
    org = funded
    account = account_of(org)
    org.run(alert_settings_save, account=account, low_balance=["50", "20.00"], runway_days=None)
    assert mail.outbox == [] and events == []  # 100.00: above both

    debit(org, "40.00")  # 60.00
    assert mail.outbox == []
    debit(org, "15.00")  # 45.00: below 50
    (email,) = mail.outbox
    assert email.to == ["ap@contoso.example"]
    assert email.subject == "Communications Credits balance below 50.00 USD"
    assert "fell below 50.00 USD" in email.body and "Balance now: 45.00 USD." in email.body
    assert "/settings/alerts/" in email.body
    assert email.alternatives[0][1] == "text/html" and "50.00 USD" in email.alternatives[0][0]
    (first,) = events
    assert first[:2] == (org.pk, "balance.low")
    assert first[3]["threshold"] == "50.00" and first[3]["balance"] == "45.00"

    debit(org, "5.00")  # 40.00: still the same episode
    debit(org, "1.00")
    assert len(mail.outbox) == 1 and len(events) == 1

    debit(org, "25.00")  # 14.00: below 20 too, once
    assert [m.subject for m in mail.outbox][1:] == [
        "Communications Credits balance below 20.00 USD"
    ]
    assert len(events) == 2

    org.run(grant, org, "100.00", reference="top-up")  # 114.00: both re-arm
    assert not BalanceAlert.objects.filter(account=account, fired_at__isnull=False).exists()
    assert len(mail.outbox) == 2

    debit(org, "70.00")  # 44.00: a new episode of 50
    assert len(mail.outbox) == 3 and len(events) == 3
    assert events[2][1] == "balance.low" and events[2][2] != events[0][2]  # one key an episode
    sent = BalanceAlertSent.objects.filter(account=account)
    assert [(s.kind, s.amount, s.balance) for s in sent] == [
        ("low_balance", Decimal("50"), Decimal("44.00")),
        ("low_balance", Decimal("20"), Decimal("14.00")),
        ("low_balance", Decimal("50"), Decimal("45.00")),
    ]
    assert {s.key for s in sent} == {e[2] for e in events}
    assert sent[0].recipients == "ap@contoso.example"
    assert ledger_verify() == []


def test_a_debit_from_above_to_below_is_a_new_episode_even_without_the_credit_seen(funded):
    """The debit's balance before counts: above the threshold, then below it, is a crossing."""
    from billing.services.ledger import credited
    from billing.signals import after_credit

    org = funded
    account = account_of(org)
    org.run(alert_settings_save, account=account, low_balance=["50"], runway_days=None)
    debit(org, "60.00")  # 40.00: fired
    credited.disconnect(after_credit)
    try:
        org.run(grant, org, "30.00", reference="unseen")  # 70.00, no re-arm on the credit
    finally:
        credited.connect(after_credit)
    assert BalanceAlert.objects.get(account=account).fired_at is not None
    debit(org, "30.00")  # 70.00 → 40.00: crossed again
    assert len(mail.outbox) == 2


def test_runway_alert_fires_once_per_episode_and_re_arms(funded, events):
    org = funded
    account = account_of(org)
    org.run(alert_settings_save, account=account, low_balance=[], runway_days=7)
    # No pace yet: nothing is spent, the runway is unbounded.
    debit(org, "90.00")
    assert mail.outbox == []
    org.run(grant, org, "90.00", reference="back")  # 100.00
    org.run(alerts_refresh, account=account, daily_spend=Decimal("10.00"))  # 10 days
    assert mail.outbox == []

    debit(org, "35.00")  # 65.00 at 10.00 a day: 6 days, below 7
    (email,) = mail.outbox
    assert email.subject == "Communications Credits: about 6 days left at the recent pace"
    assert "pace of 10.00 USD a day" in email.body and "balance of 65.00 USD" in email.body
    assert "fewer than the 7 days of your alert" in email.body
    ((_org, kind, key, data),) = events
    assert kind == "runway.low" and key.startswith(f"runway.low:{account.pk}:7:")
    assert data == {
        "balance": "65.00",
        "currency": "USD",
        "runway_days": 7,
        "days_left": 6,
        "daily_spend": "10.00",
        "sent_at": data["sent_at"],
    }

    debit(org, "10.00")  # 5 days: the same episode
    org.run(alerts_refresh, account=account, daily_spend=Decimal("9.00"))
    assert len(mail.outbox) == 1

    org.run(alerts_refresh, account=account, daily_spend=Decimal("5.00"))  # 55 ÷ 5 = 11 days
    assert BalanceAlert.objects.get(account=account).fired_at is None  # re-armed
    assert len(mail.outbox) == 1
    org.run(alerts_refresh, account=account, daily_spend=Decimal("10.00"))  # 5.5 days again
    assert len(mail.outbox) == 2 and len(events) == 2
    sent = BalanceAlertSent.objects.filter(account=account).first()
    assert (sent.kind, sent.days, sent.days_left, sent.daily_spend) == ("runway", 7, 5, 10)


def test_a_new_threshold_already_passed_fires_on_save_and_a_kept_one_does_not_again(funded):
    org = funded
    account = account_of(org)
    org.run(alert_settings_save, account=account, low_balance=["150"], runway_days=None)
    assert len(mail.outbox) == 1
    org.run(alert_settings_save, account=account, low_balance=["150.00", "20"], runway_days=3)
    assert len(mail.outbox) == 1
    assert alert_settings(account).low_balance == [Decimal("150"), Decimal("20")]
    assert BalanceAlert.objects.get(account=account, amount=150).fired_at is not None


def test_expiry_lowers_the_balance_without_a_debit_and_the_sweep_catches_it(funded, settings):
    from datetime import timedelta

    import time_machine

    from billing.services.ledger import funds_expire

    org = funded
    account = account_of(org)
    org.run(alert_settings_save, account=account, low_balance=["50"], runway_days=None)
    with time_machine.travel(account.lots.get().expires_at + timedelta(minutes=1)):
        org.run(funds_expire)
        assert mail.outbox == []
        org.run(alerts_refresh, account=account)
    assert mail.outbox[0].subject == "Communications Credits balance below 50.00 USD"


@pytest.mark.parametrize(
    ("low_balance", "runway_days", "field", "message"),
    [
        (["-5"], None, "low_balance", "Threshold 1: The amount must be more than zero."),
        (["0"], None, "low_balance", "Threshold 1: The amount must be more than zero."),
        (["20.001"], None, "low_balance", "Threshold 1: USD amounts have at most 2 decimals."),
        (["20", "20.00"], None, "low_balance", "20.00 USD is listed twice."),
        (["1e3"], None, "low_balance", "Threshold 1: Enter an amount such as 50 or 1,250.00."),
        (["NaN"], None, "low_balance", "Threshold 1: Enter an amount such as 50 or 1,250.00."),
        ([20], None, "low_balance", "Threshold 1: Enter an amount such as 50 or 1,250.00."),
        (["9" * 20], None, "low_balance", "Threshold 1: The amount is too large."),
        ([str(n) for n in range(1, 7)], None, "low_balance", "At most 5 thresholds (there are 6)."),
        ("20", None, "low_balance", "A list of amounts."),
        ([], 0, "runway_days", "Between 1 and 90 days, or none."),
        ([], 91, "runway_days", "Between 1 and 90 days, or none."),
        ([], -1, "runway_days", "Between 1 and 90 days, or none."),
        ([], True, "runway_days", "A whole number of days, or none."),
        ([], "7", "runway_days", "A whole number of days, or none."),
    ],
)
def test_invalid_settings_name_the_field_and_change_nothing(
    org, low_balance, runway_days, field, message
):
    account = account_of(org)
    with pytest.raises(BillingError) as raised:
        alert_settings_save(account=account, low_balance=low_balance, runway_days=runway_days)
    assert raised.value.errors[field] == [message]
    assert alert_settings(account).runway_days == 7  # the default, unchanged


def test_every_invalid_field_is_named_at_once(org):
    with pytest.raises(BillingError) as raised:
        alert_settings_save(account=account_of(org), low_balance=["-1", "x"], runway_days=0)
    assert set(raised.value.errors) == {"low_balance", "runway_days"}
    assert len(raised.value.errors["low_balance"]) == 2


def test_new_commerce_has_no_balance_to_watch(db):
    newco = make_org("newco", commerce="new")
    with pytest.raises(BillingError) as raised:
        alert_settings_save(account=account_of(newco), low_balance=["20"], runway_days=None)
    assert raised.value.conflict and raised.value.code == "new_commerce"


def test_the_database_refuses_a_threshold_that_does_not_fit_its_kind(org):
    from django.db import IntegrityError, transaction

    account = account_of(org)
    for fields in (
        {"kind": AlertKind.LOW_BALANCE, "amount": Decimal("-1")},
        {"kind": AlertKind.LOW_BALANCE, "amount": Decimal("5"), "days": 3},
        {"kind": AlertKind.RUNWAY, "days": 0},
        {"kind": AlertKind.RUNWAY, "days": 3},  # a second runway alert
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            BalanceAlert.objects.create(account=account, **fields)
