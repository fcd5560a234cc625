"""A worker killed mid-recharge is repaired within two minutes (finding 10 of issue 14): the
lease follows the task's time limit and the sweep of stuck attempts runs every minute."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
import time_machine

from billing import tasks
from billing.models import FundLot, RechargeAttempt
from billing.services import recharge
from billing.services.recharge import LEASE, recharge_run, recharge_sweep
from credits_portal.celery import app
from tests.billing.recharge_helpers import turn_on
from tests.builders import account_of
from tests.stripe_helpers import intents_where

REPAIRED_WITHIN = timedelta(minutes=2)


def test_the_lease_outlasts_the_task_and_the_sweep_runs_every_minute():
    time_limit = tasks.recharge_account.time_limit
    assert time_limit and timedelta(seconds=time_limit) < LEASE
    sweep = app.conf.beat_schedule["sweep-recharges"]["schedule"]
    assert sweep <= 60
    # Killed just after taking the lease: the lease runs out, then the next sweep comes.
    assert LEASE + timedelta(seconds=sweep) <= REPAIRED_WITHIN


@pytest.mark.django_db
def test_a_killed_workers_attempt_is_finished_by_the_next_sweep(org):
    turn_on(org)
    account_id = account_of(org).pk
    real_create = recharge._create_intent

    def charge_then_die(*args, **kwargs):
        real_create(*args, **kwargs)  # Stripe charged the card…
        raise SystemExit("worker killed")  # …and the worker died before saving anything

    with mock.patch.object(recharge, "_create_intent", charge_then_die), pytest.raises(SystemExit):
        recharge_run(account_id=account_id)
    (attempt,) = RechargeAttempt.objects.filter(account_id=account_id)
    assert attempt.status == "charging" and attempt.lease_until is not None
    leased_at = attempt.lease_until - LEASE
    # A sweep half a minute later finds the lease still held by the (dead) worker…
    with time_machine.travel(leased_at + timedelta(seconds=30)):
        recharge_sweep()
    assert _status(attempt) == "charging"
    # …and a sweep two minutes after the lease was taken (the latest one comes) finishes it.
    with time_machine.travel(leased_at + REPAIRED_WITHIN):
        assert recharge_sweep() == 1
    assert _status(attempt) == "succeeded"
    assert len(intents_where(recharge=attempt.code)) == 1 and FundLot.objects.count() == 1
    assert account_of(org).balance == Decimal("70.00")


def _status(attempt) -> str:
    attempt.refresh_from_db()
    return attempt.status
