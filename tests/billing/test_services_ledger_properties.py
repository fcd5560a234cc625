"""Property-based: arbitrary sequences of grants, purchases, debits and expiries at arbitrary times.

A plain Python model of the lots predicts every outcome; after each step the database agrees
with it, draws were first in first out, and `ledger_verify` finds nothing wrong.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from dateutil.relativedelta import relativedelta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import FundLot, LedgerEntry
from billing.services.ledger import funds_debit, funds_expire
from billing.services.verify import ledger_verify
from tests.builders import account_of, grant, make_org

_orgs = itertools.count()

cents = st.integers(min_value=1, max_value=50_000).map(lambda c: Decimal(c).scaleb(-2))
steps = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), cents, st.integers(0, 300)),  # back-dated 0 to 300 days
        st.tuples(st.just("debit"), cents, st.just(0)),
        st.tuples(st.just("expire"), st.just(Decimal(0)), st.just(0)),
        st.tuples(st.just("wait"), st.just(Decimal(0)), st.integers(1, 200)),  # days go by
    ),
    min_size=1,
    max_size=14,
)


@dataclass
class ModelLot:
    pk: int
    purchased_at: datetime
    remaining: Decimal
    expires_at: datetime


def model_expire(lots: list[ModelLot], now: datetime) -> Decimal:
    gone = Decimal(0)
    for lot in list(lots):
        if lot.expires_at <= now:
            gone += lot.remaining
            lots.remove(lot)
    return gone


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=steps)
def test_any_sequence_keeps_the_invariants(steps):
    org = make_org(f"prop-{next(_orgs)}")
    clock = datetime(2026, 1, 1, 12, tzinfo=UTC)
    lots: list[ModelLot] = []
    balance = debt = Decimal(0)
    for n, (op, amount, days) in enumerate(steps):
        with time_machine.travel(clock, tick=False):
            if op == "grant":
                at = clock - timedelta(days=days)
                lot = grant(org, str(amount), purchased_at=at, reference=f"g{n}")
                settle = min(debt, amount)
                debt -= settle
                lots.append(ModelLot(lot.pk, at, amount - settle, at + relativedelta(months=12)))
                balance += amount
            elif op == "debit":
                balance -= model_expire(lots, clock)
                left = amount
                expected_draws = []
                for lot in sorted(lots, key=lambda lot: (lot.purchased_at, lot.pk)):
                    take = min(lot.remaining, left)
                    if take:
                        lot.remaining -= take
                        left -= take
                        expected_draws.append((lot.pk, -take))
                debt += left
                balance -= amount
                debit = funds_debit(account=account_of(org), amount=amount, reference=f"d{n}")
                drawn = [(e.lot_id, e.amount) for e in debit.entries if e.lot_id]
                assert drawn == expected_draws, "first in, first out"
                assert debit.uncovered == left
            elif op == "expire":
                funds_expire()
                balance -= model_expire(lots, clock)
            else:
                clock += timedelta(days=days)
                continue
        account = account_of(org)
        assert (account.balance, account.debt) == (balance, debt)
        live = {lot.pk: lot.remaining for lot in lots}
        db_live = dict(
            FundLot.objects.filter(account=account, expired_at__isnull=True)
            .exclude(pk__in=[])
            .values_list("pk", "remaining")
        )
        # Lots past expiry but not yet swept still show in the database until a debit or the sweep.
        for pk, remaining in live.items():
            assert db_live[pk] == remaining
        assert ledger_verify(org) == []
    for expired in FundLot.objects.filter(account__organisation=org, expired_at__isnull=False):
        spent = -sum(
            e.amount
            for e in LedgerEntry.objects.filter(lot=expired, amount__lt=0).exclude(kind="expiry")
        )
        expiry = LedgerEntry.objects.filter(lot=expired, kind="expiry").first()
        assert (expired.amount - spent) == (-expiry.amount if expiry else 0)
