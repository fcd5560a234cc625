"""`rebuild_usage_aggregates [SLUG]`: the daily aggregates recomputed from the records."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db.models import F

from billing.services.verify import ledger_verify
from tests.builders import grant, make_org
from tests.processes import at_once
from tests.usage.test_services_aggregates import (
    add_people,
    aggregated,
    grouped_records,
    raw_records,
)
from usage.models import DailyUsage
from usage.services.ingest import usage_ingest

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def rebuild(*args: str) -> str:
    out = io.StringIO()
    call_command("rebuild_usage_aggregates", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def two(rated):
    other = make_org("fabrikam", name="Fabrikam")
    grant(rated, "100")
    with time_machine.travel(NOW, tick=False):
        for organisation, seed in ((rated, 4), (other, 5)):
            records = raw_records(60, add_people(organisation), seed=seed)
            usage_ingest(organisation=organisation, records=records, max_age=timedelta(days=400))
    return rated, other


def test_rebuild_one_organisation_leaves_the_others_alone(two):
    contoso, fabrikam = two
    DailyUsage.objects.filter(organisation=contoso).update(charge=Decimal("999"))
    DailyUsage.objects.filter(organisation=fabrikam).update(
        duration_seconds=F("duration_seconds") + 1
    )
    assert len(ledger_verify()) > 2
    rows = DailyUsage.objects.filter(organisation=contoso).count()
    assert rebuild("contoso") == f"contoso: {rows} daily aggregate rows.\n"
    assert ledger_verify(contoso) == [] and ledger_verify(fabrikam) != []
    out = rebuild()
    assert "contoso: " in out and "fabrikam: " in out
    assert aggregated() == grouped_records() and ledger_verify() == []


def test_rebuild_from_nothing_and_twice(two):
    DailyUsage.objects.all().delete()
    rebuild()
    first = aggregated()
    rebuild()
    assert aggregated() == first == grouped_records()


def test_an_unknown_organisation_is_refused(db):
    with pytest.raises(CommandError, match="No organisation 'nope'"):
        rebuild("nope")


@pytest.mark.django_db(transaction=True)
def test_rebuilds_while_batches_arrive(rated):
    """The command takes the account lock ingest takes: batches land before or after it."""
    users = add_people(rated)
    grant(rated, "500")
    with time_machine.travel(NOW, tick=False):
        records = raw_records(400, users, seed=6)

        def work(i: int) -> None:
            if i % 2:
                rebuild("contoso")
            else:
                usage_ingest(
                    organisation=rated,
                    records=records[i * 40 : i * 40 + 80],
                    max_age=timedelta(days=400),
                )

        assert at_once(work, 10) == []
    assert aggregated() == grouped_records() and ledger_verify() == []
