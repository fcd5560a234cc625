from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing.models import FundLot, Invoice, LedgerEntry
from tests.builders import account_of, grant, make_org

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_grant_funds_adds_a_lot(org):
    out = run("grant_funds", "contoso", "25.50")
    lot = FundLot.objects.get()
    assert (lot.amount, lot.source) == (Decimal("25.50"), "grant") and "25.50 USD" in out
    assert account_of(org).balance == Decimal("25.50")


def test_grant_funds_migrates_a_lot_with_its_purchase_time(org):
    run(
        "grant_funds",
        "contoso",
        "10",
        "--purchased-at",
        "2026-03-01T10:00:00Z",
        "--reference",
        "legacy-7",
    )
    run(
        "grant_funds",
        "contoso",
        "10",
        "--purchased-at",
        "2026-03-01T10:00:00Z",
        "--reference",
        "legacy-7",
    )
    lot = FundLot.objects.get()
    assert lot.purchased_at.isoformat() == "2026-03-01T10:00:00+00:00"
    assert lot.expires_at.isoformat() == "2027-03-01T10:00:00+00:00"
    assert account_of(org).balance == Decimal("10"), "the same reference adds once"


def test_a_purchase_time_without_a_zone_is_utc(org):
    run("grant_funds", "contoso", "10", "--purchased-at", "2026-03-01T10:00:00")
    assert FundLot.objects.get().purchased_at.isoformat() == "2026-03-01T10:00:00+00:00"


def test_grant_funds_on_an_agreement_issues_a_due_invoice(org):
    run("add_agreement", "contoso", "EA-1234", "--credit-limit", "5000")
    run("grant_funds", "contoso", "1000", "--enterprise-agreement", "EA-1234", "--po", "PO-77")
    invoice = Invoice.objects.get()
    assert (invoice.status, invoice.agreement.number, invoice.po_number) == (
        "due",
        "EA-1234",
        "PO-77",
    )
    assert FundLot.objects.get().source == "agreement"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere", "10"], "No organisation"),
        (["contoso", "ten"], "amount such as"),
        (["contoso", "0"], "more than zero"),
        (["contoso", "-4"], "more than zero"),
        (["contoso", "1.001"], "decimals"),
        (["contoso", "10", "--purchased-at", "yesterday"], "ISO 8601"),
        (["contoso", "10", "--purchased-at", "2020-01-01T00:00:00Z"], "already have expired"),
        (["contoso", "10", "--purchased-at", "2099-01-01T00:00:00Z"], "future"),
        (["contoso", "10", "--po", "PO-1"], "--po needs"),
        (["contoso", "10", "--enterprise-agreement", "x"], "no registered agreement 'x'"),
        (["contoso", "10", "--enterprise-agreement", "EA-404", "--po", "<bad>"], "purchase order"),
    ],
)
def test_grant_funds_refuses_bad_input_and_changes_nothing(org, args, message):
    with pytest.raises(CommandError, match=message):
        run("grant_funds", *args)
    assert not FundLot.objects.exists() and not LedgerEntry.objects.exists()
    assert not org.enterprise_agreements.exists()


def test_grant_funds_is_refused_for_new_commerce(db):
    make_org("newco", commerce="new")
    with pytest.raises(CommandError, match="New-commerce"):
        run("grant_funds", "newco", "10")


def test_expire_funds(org):
    grant(org, "10", purchased_at=timezone.now() - timedelta(days=364))
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        assert run("expire_funds") == "Expired 1 lots.\n"
        assert run("expire_funds") == "Expired 0 lots.\n"
    assert account_of(org).balance == 0


def test_verify_ledger_passes_and_reports_a_broken_balance(org, other_org):
    grant(org, "10")
    assert "Ledger OK" in run("verify_ledger")
    assert "Ledger OK" in run("verify_ledger", "contoso")
    account = account_of(org)
    account.balance = Decimal("11")  # what a read-modify-write bug would leave
    account.save(update_fields=["balance"])
    out = io.StringIO()
    with pytest.raises(CommandError, match="violations"):
        call_command("verify_ledger", "contoso", stdout=out)
    assert "contoso: balance is the sum of the ledger: balance 11" in out.getvalue()
    assert "Ledger OK" in run("verify_ledger", "fabrikam")
    account.balance = Decimal("10")
    account.save(update_fields=["balance"])
    with pytest.raises(CommandError, match="No organisation"):
        run("verify_ledger", "nowhere")
