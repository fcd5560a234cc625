"""Races on real PostgreSQL: many threads move one account's money at once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import FundLot, LedgerEntry
from billing.services.ledger import funds_debit, funds_expire
from tests.builders import account_of, grant
from tests.processes import at_once

THREADS = 8
DEBITS_PER_THREAD = 15


@pytest.mark.django_db(transaction=True)
def test_concurrent_debits_and_purchases_end_with_the_exact_balance(org):
    grant(org, "50.00", reference="opening")

    def work(i: int) -> None:
        account = account_of(org)
        for n in range(DEBITS_PER_THREAD):
            funds_debit(account=account, amount=Decimal("0.37"), reference=f"call-{i}-{n}")
            if n % 5 == 0:
                grant(org, "1.00", reference=f"topup-{i}-{n}")
            funds_expire()

    assert at_once(work, THREADS) == []
    debits = THREADS * DEBITS_PER_THREAD
    topups = THREADS * 3
    account = account_of(org)
    assert account.balance == Decimal("50.00") + topups * Decimal("1.00") - debits * Decimal("0.37")
    usage = LedgerEntry.objects.filter(account=account, kind="usage", amount__lt=0)
    assert {e.reference for e in usage} == {
        f"call-{i}-{n}" for i in range(THREADS) for n in range(DEBITS_PER_THREAD)
    }
    assert FundLot.objects.filter(account=account).count() == 1 + topups


@pytest.mark.django_db(transaction=True)
def test_the_same_debit_from_many_threads_posts_once(org):
    grant(org, "10.00")
    assert (
        at_once(
            lambda i: funds_debit(
                account=account_of(org), amount=Decimal("3.00"), reference="call-x"
            ),
            THREADS,
        )
        == []
    )
    assert account_of(org).balance == Decimal("7.00")
    assert LedgerEntry.objects.filter(reference="call-x").count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_past_zero_records_debt_exactly(org):
    grant(org, "1.00")
    assert (
        at_once(
            lambda i: funds_debit(
                account=account_of(org), amount=Decimal("0.30"), reference=f"c{i}"
            ),
            THREADS,
        )
        == []
    )
    account = account_of(org)
    assert (account.balance, account.debt) == (Decimal("-1.40"), Decimal("1.40"))
