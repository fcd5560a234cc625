"""Worked examples of the ledger rules, with amounts to check by hand."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.exceptions import BillingError
from billing.models import FundLot, LedgerEntry
from billing.services.ledger import funds_debit, funds_expire
from tests.builders import account_of, grant, make_org

pytestmark = pytest.mark.django_db
D = Decimal


def entries(org) -> list[tuple[str, Decimal, Decimal]]:
    return [
        (e.kind, e.amount, e.balance_after)
        for e in LedgerEntry.objects.filter(account__organisation=org).order_by("id")
    ]


def test_an_organisation_has_an_account_in_its_currency(other_org):
    account = account_of(other_org)
    assert (str(account.currency), account.balance, account.debt) == ("EUR", 0, 0)


def test_a_grant_adds_a_lot_that_expires_after_twelve_months(org):
    at = timezone.now().replace(microsecond=0) - timedelta(days=40)
    lot = grant(org, "100.00", purchased_at=at)
    assert (lot.amount, lot.remaining, lot.purchased_at) == (D("100.00"), D("100.00"), at)
    assert lot.expires_at == at.replace(year=at.year + 1)
    assert entries(org) == [("adjustment", D("100"), D("100"))]
    assert account_of(org).balance == D("100")


def test_debits_draw_the_oldest_lot_first_one_entry_per_lot(org):
    now = timezone.now()
    young = grant(org, "50", purchased_at=now - timedelta(days=1))
    old = grant(org, "30", purchased_at=now - timedelta(days=200))
    funds_debit(account=account_of(org), amount=D("20"), reference="call-1")
    debit = funds_debit(account=account_of(org), amount=D("25"), reference="call-2")
    old.refresh_from_db()
    young.refresh_from_db()
    assert (old.remaining, young.remaining) == (D("0"), D("35"))
    assert [(e.lot_id, e.amount) for e in debit.entries] == [
        (old.pk, D("-10")),
        (young.pk, D("-15")),
    ]
    assert debit.balance == D("35") and debit.uncovered == 0
    assert entries(org)[-2:] == [("usage", D("-10"), D("50")), ("usage", D("-15"), D("35"))]


def test_a_debit_past_the_balance_leaves_debt_which_the_next_purchase_pays_first(org):
    grant(org, "10")
    debit = funds_debit(account=account_of(org), amount=D("12.50"), reference="long-call")
    assert (debit.balance, debit.uncovered) == (D("-2.50"), D("2.50"))
    account = account_of(org)
    assert (account.balance, account.debt) == (D("-2.50"), D("2.50"))
    lot = grant(org, "20")
    lot.refresh_from_db()
    account = account_of(org)
    assert (lot.amount, lot.remaining) == (D("20"), D("17.50"))
    assert (account.balance, account.debt) == (D("17.50"), D("0"))
    assert entries(org)[-3:] == [
        ("adjustment", D("20"), D("17.50")),
        ("usage", D("-2.50"), D("15.00")),
        ("usage", D("2.50"), D("17.50")),
    ]


def test_a_debit_is_idempotent_by_reference(org):
    grant(org, "10")
    first = funds_debit(account=account_of(org), amount=D("4"), reference="call-7")
    again = funds_debit(account=account_of(org), amount=D("4"), reference="call-7")
    assert [e.pk for e in again.entries] == [e.pk for e in first.entries]
    assert account_of(org).balance == D("6")


def test_a_grant_is_idempotent_by_reference(org):
    first = grant(org, "10", reference="promo-2026")
    again = grant(org, "10", reference="promo-2026")
    assert first.pk == again.pk and account_of(org).balance == D("10")


def test_expiry_removes_exactly_what_a_lot_had_left_once(org):
    lot = grant(org, "40", purchased_at=timezone.now() - timedelta(days=300))
    funds_debit(account=account_of(org), amount=D("15"), reference="call-1")
    fresh = grant(org, "5")
    with time_machine.travel(timezone.now() + timedelta(days=70)):
        assert funds_expire() == 1
        assert funds_expire() == 0, "running it again expires nothing more"
    lot.refresh_from_db()
    assert (lot.remaining, lot.expired_at is not None) == (D("0"), True)
    expiry = LedgerEntry.objects.get(lot=lot, kind="expiry")
    assert (expiry.amount, expiry.balance_after) == (D("-25"), D("5"))
    assert account_of(org).balance == D("5")
    fresh.refresh_from_db()
    assert fresh.expired_at is None


def test_a_debit_never_draws_from_a_lot_past_its_expiry(org):
    lot = grant(org, "40", purchased_at=timezone.now() - timedelta(days=360))
    grant(org, "10")
    with time_machine.travel(timezone.now() + timedelta(days=10)):
        debit = funds_debit(account=account_of(org), amount=D("4"), reference="call-1")
    lot.refresh_from_db()
    assert lot.expired_at is not None and lot.remaining == 0
    assert debit.balance == D("6")
    assert [e.lot_id for e in debit.entries] != [lot.pk]


def test_expiry_is_set_based_over_every_account(org, other_org):
    old = timezone.now() - timedelta(days=364)
    for i in range(5):
        grant(org, "10", purchased_at=old + timedelta(hours=i))
        grant(other_org, "30", purchased_at=old)
    later = timezone.now() + timedelta(days=2)
    with time_machine.travel(later), CaptureQueriesContext(connection) as queries:
        assert funds_expire() == 10
    # Whatever the number of lots: lock the accounts, one statement, then find nothing more due.
    assert len(queries) <= 8, [q["sql"] for q in queries]
    assert account_of(org).balance == 0 and account_of(other_org).balance == 0
    assert [e[2] for e in entries(org)[-5:]] == [D("40"), D("30"), D("20"), D("10"), D("0")]


def test_new_commerce_organisations_cannot_have_credits(db):
    org = make_org("newco", commerce="new")
    with pytest.raises(BillingError, match="New-commerce"):
        grant(org, "10")
    assert not FundLot.objects.exists()


@pytest.mark.parametrize("days", [-1, 366])
def test_a_purchase_time_in_the_future_or_long_expired_is_refused(org, days):
    with pytest.raises(BillingError, match="purchase"):
        grant(org, "10", purchased_at=timezone.now() - timedelta(days=days))
    assert not FundLot.objects.exists()


def test_money_is_never_a_float(org):
    with pytest.raises(TypeError):
        funds_debit(account=account_of(org), amount=1.5, reference="x")
    with pytest.raises(ValueError):
        funds_debit(account=account_of(org), amount=D("-1"), reference="x")


def test_ledger_entries_are_append_only_in_the_database(org):
    grant(org, "10")
    entry = LedgerEntry.objects.get()
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=D("1000"))
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).delete()


def test_the_database_refuses_a_lot_overdrawn_or_a_cause_posted_twice(org):
    lot = grant(org, "10")
    with pytest.raises(IntegrityError), transaction.atomic():
        FundLot.objects.filter(pk=lot.pk).update(remaining=D("-1"))
    entry = LedgerEntry.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            account=entry.account,
            kind="usage",
            amount=D("-1"),
            balance_after=D("9"),
            reference=entry.reference,
            seq=0,
        )
