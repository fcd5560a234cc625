"""Overage invoicing of new-commerce organisations: every closed month's overage is billed once,
late records too, whatever month they belong to (issue 13, finding 3)."""

from __future__ import annotations

import importlib
from datetime import date, datetime
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command

from billing.models import Invoice
from billing.services.invoices import invoice_issue
from billing.services.verify import ledger_verify
from tests.builders import account_of
from tests.processes import at_once
from usage.models import OverageInvoice, UsageRecord
from usage.services.ingest import usage_ingest
from usage.tasks import invoice_overage

pytestmark = pytest.mark.django_db
MANCHESTER = "+441612345678"  # 0.0230 a minute: 10 minutes 0.23, 20 minutes 0.46, 1 minute 0.02


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def use(organisation, record_id: str, started_at: str, minutes: int, *, now: str) -> Decimal:
    """One overage call of `minutes` to Manchester, reported by the platform at `now`."""
    record = {
        "id": record_id,
        "kind": "call",
        "type": "outbound",
        "user": "nia@newco.example",
        "from": "+14255550100",
        "to": MANCHESTER,
        "started_at": started_at,
        "duration_seconds": 60 * minutes,
    }
    with time_machine.travel(at(now), tick=False):
        (result,) = usage_ingest(organisation=organisation, records=[record])
    assert result.status == "rated" and result.funded_by == "overage", result.as_dict()
    return Decimal(result.charge)


def run(now: str) -> int:
    """The monthly task, as beat starts it at `now`."""
    with time_machine.travel(at(now), tick=False):
        return invoice_overage()


def lines(organisation) -> list[tuple[int, str, Decimal]]:
    invoices = Invoice.objects.filter(account=account_of(organisation)).order_by("number")
    return [
        (invoice.number, line.description, line.amount)
        for invoice in invoices
        for line in invoice.lines.all()
    ]


def test_a_late_record_is_invoiced_once_and_its_month_named(nia):
    use(nia, "oct-1", "2026-10-10T09:00:00Z", 10, now="2026-10-20T12:00:00Z")
    assert run("2026-11-01T02:15:00Z") == 1
    # Reported two days after October's invoice was issued: late, but within the age ingest takes.
    use(nia, "oct-late", "2026-10-31T23:00:00Z", 20, now="2026-11-02T08:00:00Z")
    use(nia, "nov-1", "2026-11-05T09:00:00Z", 1, now="2026-11-05T09:10:00Z")
    use(nia, "dec-1", "2026-12-01T00:30:00Z", 10, now="2026-12-01T01:00:00Z")
    assert run("2026-12-01T02:15:00Z") == 1
    assert run("2026-12-01T02:16:00Z") == 0  # a second run finds nothing
    assert lines(nia) == [
        (1, "Overage calls and messages, October 2026", Decimal("0.23")),
        (2, "Overage calls and messages, October 2026 (late records)", Decimal("0.46")),
        (2, "Overage calls and messages, November 2026", Decimal("0.02")),
    ]
    second = Invoice.objects.get(account=account_of(nia), number=2)
    assert second.total == Decimal("0.48") and second.status == "due"
    assert second.due_date == date(2026, 12, 31)
    overage = OverageInvoice.objects.get(invoice=second)
    assert (overage.period_start, overage.period_end) == (date(2026, 10, 1), date(2026, 11, 30))
    billed = dict(UsageRecord.objects.values_list("record_id", "overage_invoice__invoice__number"))
    # The current month is not closed: its records wait for next month's run.
    assert billed == {"oct-1": 1, "oct-late": 2, "nov-1": 2, "dec-1": None}
    assert run("2027-01-01T02:15:00Z") == 1
    assert lines(nia)[-1] == (3, "Overage calls and messages, December 2026", Decimal("0.23"))
    assert ledger_verify() == []


def test_nothing_to_invoice_issues_nothing(nia, org):
    assert run("2026-12-01T02:15:00Z") == 0
    assert not Invoice.objects.exists() and not OverageInvoice.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_invoice_each_record_once(nia):
    use(nia, "oct-1", "2026-10-30T09:00:00Z", 10, now="2026-11-03T12:00:00Z")
    use(nia, "nov-1", "2026-11-05T09:00:00Z", 1, now="2026-11-05T09:10:00Z")
    issued: list[int] = []
    with time_machine.travel(at("2026-12-01T02:15:00Z"), tick=False):
        assert at_once(lambda _i: issued.append(invoice_overage()), 2) == []
    assert sorted(issued) == [0, 1]
    (invoice,) = Invoice.objects.all()
    assert invoice.total == Decimal("0.25") and invoice.lines.count() == 2
    assert not UsageRecord.objects.filter(overage_invoice__isnull=True).exists()
    assert ledger_verify() == []


def test_the_invoice_overage_command_twice(nia):
    use(nia, "nov-1", "2026-11-05T09:00:00Z", 10, now="2026-11-05T09:10:00Z")
    out = StringIO()
    with time_machine.travel(at("2026-12-03T10:00:00Z"), tick=False):
        call_command("invoice_overage", stdout=out)
        call_command("invoice_overage", stdout=out)
    assert out.getvalue().splitlines() == [
        "1 overage invoice issued.",
        "0 overage invoices issued.",
    ]
    assert Invoice.objects.get().total == Decimal("0.23")
    assert ledger_verify() == []


def test_months_invoiced_before_the_migration_are_not_billed_again(nia):
    """0007 marks the records an invoice of the old monthly kind billed (those stored before
    it was issued); those stored after it are late and billed by the next run."""
    use(nia, "oct-1", "2026-10-10T09:00:00Z", 10, now="2026-10-20T12:00:00Z")
    with time_machine.travel(at("2026-11-01T02:15:00Z"), tick=False):
        account = account_of(nia)
        invoice = invoice_issue(
            account=account,
            total=Decimal("0.23"),
            description="Overage calls and messages, October 2026",
            payment_description="Invoiced after use (new commerce), due in 30 days",
            due_days=30,
        )
        OverageInvoice.objects.create(
            organisation=nia,
            invoice=invoice,
            period_start=date(2026, 10, 1),
            period_end=date(2026, 10, 31),
        )
    use(nia, "oct-late", "2026-10-31T23:00:00Z", 20, now="2026-11-02T08:00:00Z")
    migration = importlib.import_module("usage.migrations.0007_late_overage")
    migration.mark_billed_records(apps, None)
    assert run("2026-12-01T02:15:00Z") == 1
    assert [(n, amount) for n, _line, amount in lines(nia)] == [
        (1, Decimal("0.23")),
        (2, Decimal("0.46")),
    ]
    assert ledger_verify() == []
