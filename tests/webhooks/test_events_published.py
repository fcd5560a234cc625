"""The events billing and usage publish today (issue 19 item 4), each once per occurrence:
`balance.zero`, `recharge.succeeded`, `recharge.failed`, `auto_recharge.suspended`,
`funds.expiring`, `pool.threshold`, `invoice.issued`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from billing.services.agreements import agreement_register
from billing.services.expiry_notice import expiring_funds_notify
from billing.services.recharge import recharge_run
from billing.services.recharge_settings import auto_recharge_configure, recharge_method_set
from tests.billing.recharge_helpers import spend, turn_on
from tests.builders import account_of, grant
from tests.stripe_helpers import NEEDS_AUTHENTICATION
from usage.services.pool_alerts import pool_alerts_check
from usage.services.pools import month_of
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run `call` and what it left for after its commit (the events among it)."""

    def run(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    return run


def events(org, type: str) -> list[WebhookEvent]:
    return list(WebhookEvent.objects.filter(organisation=org, type=type).order_by("id"))


def test_balance_zero_once_per_crossing(org, committed):
    grant(org, "5")
    committed(spend, org, "2", "c1")
    committed(spend, org, "3", "c2")  # 5 → 0: reached
    committed(spend, org, "1", "c3")  # already there: not again
    [zero] = events(org, "balance.zero")
    assert zero.data == {"balance": "0.00", "currency": "USD"}
    grant(org, "10")
    committed(spend, org, "10", "c4")  # back above, and down again: a second occurrence
    assert len(events(org, "balance.zero")) == 2


def test_an_agreement_recharge_publishes_its_success_and_invoice(org, committed):
    account = account_of(org)
    agreement, _ = agreement_register(
        account=account, number="EA-5550001", payment_terms_days=30, credit_limit="1000"
    )
    recharge_method_set(account=account, agreement=agreement)
    auto_recharge_configure(
        account=account_of(org), enabled=True, trigger_amount="20", recharge_amount="100"
    )
    attempt = committed(recharge_run, account_id=account.pk)
    committed(recharge_run, account_id=account.pk)  # nothing more is due: nothing more sent
    [succeeded] = events(org, "recharge.succeeded")
    assert succeeded.key == f"recharge.succeeded:{attempt.code}"
    assert succeeded.data == {
        "recharge": str(attempt.code),
        "amount": "120.00",
        "currency": "USD",
        "balance": "120.00",
        "invoice": "CONTOSO-000001",
    }
    [issued] = events(org, "invoice.issued")
    invoice = attempt.lot.invoice
    assert issued.data["invoice"] == "CONTOSO-000001" and issued.data["id"] == str(invoice.code)
    assert (issued.data["kind"], issued.data["total"], issued.data["status"]) == (
        "recharge",
        "120.00",
        "due",
    )
    assert issued.data["due_at"] == invoice.due_date.isoformat()


def test_a_hard_decline_publishes_the_failure_and_the_suspension(org, committed):
    turn_on(org, number=NEEDS_AUTHENTICATION)
    attempt = committed(recharge_run, account_id=account_of(org).pk)
    [failed] = events(org, "recharge.failed")
    assert failed.key == f"recharge.failed:{attempt.code}"
    assert failed.data["code"] == "authentication_required" and failed.data["retry_at"] is None
    assert failed.data["amount"] == "70.00" and failed.data["currency"] == "USD"
    [suspended] = events(org, "auto_recharge.suspended")
    assert suspended.data["code"] == "authentication_required"
    assert "update the card" in suspended.data["reason"]


def test_funds_expiring_once_per_lot(org, committed):
    grant(org, "40", purchased_at=timezone.now() - timedelta(days=350))
    assert committed(expiring_funds_notify) == 1
    assert committed(expiring_funds_notify) == 0
    [expiring] = events(org, "funds.expiring")
    assert expiring.data["amount"] == "40.00" and expiring.data["lots"] == 1
    assert expiring.data["first_expires_at"] == account_of(org).lots.get().expires_at.isoformat()


@dataclass
class _Pool:
    size: int
    used: int
    changed: bool = True


def test_pool_threshold_once_per_pool_month_and_threshold(org, committed):
    month = month_of(timezone.now())
    pools = {(month, "domestic", "GB"): _Pool(size=1200, used=1000)}
    committed(pool_alerts_check, organisation=org, pools=pools)
    committed(pool_alerts_check, organisation=org, pools=pools)  # a later batch: not again
    [reached] = events(org, "pool.threshold")
    assert reached.data == {
        "month": f"{month:%Y-%m}",
        "category": "domestic",
        "country": "GB",
        "threshold": 80,
        "used": 1000,
        "size": 1200,
    }
    pools[(month, "domestic", "GB")].used = 1200
    committed(pool_alerts_check, organisation=org, pools=pools)
    assert [e.data["threshold"] for e in events(org, "pool.threshold")] == [80, 100]


@pytest.mark.django_db(transaction=True)
def test_a_fault_recording_an_event_never_fails_the_announcer(org, caplog):
    from unittest import mock

    from django.db import DatabaseError, transaction

    from credits_portal.events import publish

    with (
        mock.patch(
            "webhooks.receivers.event_record", side_effect=DatabaseError("the database went away")
        ),
        transaction.atomic(),
    ):
        publish(organisation_id=org.pk, type="balance.zero", key="z", data={})
    assert not WebhookEvent.objects.exists()
    assert "webhook event z (balance.zero) of organisation" in caplog.text
