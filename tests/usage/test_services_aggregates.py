"""The daily usage aggregates: exact with the records after ingest, duplicates, concurrent batches
and a rebuild, checked by verify_ledger; the report's totals and chart and the planner read them."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.http import QueryDict
from django.urls import reverse

from billing.services.verify import ledger_verify
from credits_portal.permissions import Role
from tests.builders import grant, licensed_user, make_org, seats_of_every_sku
from tests.processes import at_once
from usage.filters import report_queryset
from usage.models import DailyUsage, FundedBy, UsageRecord
from usage.services.aggregates import (
    aggregates_rebuild,
    report_slice,
    usage_daily,
    usage_totals,
)
from usage.services.ingest import usage_ingest
from usage.services.planner import chart_series, funding_plan

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
OLD = timedelta(days=400)  # an operator's load: records as old as the filters reach

# Destinations: (number, country) at home for US users and abroad.
TO = [
    ("+12015550123", "US"),
    ("+14255550199", "US"),
    ("+441612345678", "GB"),
    ("+442071838750", "GB"),
    ("+33142685300", "FR"),
    ("+18005550100", "US"),
]


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def raw_records(n: int, users: list[str], *, seed: int = 7, prefix: str = "r") -> list[dict]:
    """`n` calls and messages of `users` over the last 120 days, some on the edges of UTC days."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        days, seconds = (
            rng.randrange(120),
            rng.choice([0, 1, 3600, 43200, 86399, rng.randrange(86400)]),
        )
        started = datetime.combine(NOW.date() - timedelta(days=days), datetime.min.time(), UTC)
        started = min(started + timedelta(seconds=seconds), NOW)
        user = rng.choice(users)
        number, _country = rng.choice(TO)
        if i % 7 == 0:
            record = {"kind": "sms", "type": "sms", "to": number}
        else:
            kind = rng.choice(["outbound", "outbound", "conference_dial_out", "toll_free_dial_in"])
            if kind == "toll_free_dial_in":
                number = "+18005550100"
            record = {
                "kind": "call",
                "type": kind,
                "to": number,
                "duration_seconds": rng.choice([0, 1, 59, 60, 61, 600, 3599]),
            }
        records.append(
            {
                **record,
                "id": f"{prefix}{i}",
                "user": user,
                "from": "+14255550100",
                "started_at": stamp(started),
            }
        )
    return records


def ingest(organisation, records: list[dict]) -> list:
    results = []
    for start in range(0, len(records), 100):
        results += usage_ingest(
            organisation=organisation, records=records[start : start + 100], max_age=OLD
        )
    return results


def add_people(organisation) -> list[str]:
    """Users whose calls are funded in every way their organisation's commerce allows."""
    seats_of_every_sku(organisation, 20)
    slug = organisation.slug
    licensed_user(
        organisation,
        f"ana@{slug}.example",
        "US",
        "PHONE_SYSTEM",
        "CALLING_DOMESTIC",
        "COMMS_CREDITS",
        "AUDIO_CONF",
    )
    licensed_user(organisation, f"bob@{slug}.example", "GB", "PHONE_SYSTEM", "COMMS_CREDITS")
    young = licensed_user(organisation, f"cy@{slug}.example", "US", "PHONE_SYSTEM", "AUDIO_CONF")
    young.display_name = "Cy Young"
    young.save(update_fields=["display_name"])
    return [f"ana@{slug}.example", f"bob@{slug}.example", f"cy@{slug}.example"]


@pytest.fixture
def mixed(rated):
    """contoso (legacy: plan minutes and credits) and newco (new commerce: overage), each with
    a few hundred calls and messages over 120 days; frozen at NOW."""
    newco = make_org("newco", name="NewCo", commerce="new")
    with time_machine.travel(NOW, tick=False):
        grant(rated, "500")
        for organisation, seed in ((rated, 1), (newco, 2)):
            results = ingest(organisation, raw_records(200, add_people(organisation), seed=seed))
            assert {r.status for r in results} <= {"rated", "rejected"}
        yield {"contoso": rated, "newco": newco}


def grouped_records() -> dict[tuple, tuple]:
    """The records grouped as the aggregates are, computed here in Python from the ORM."""
    found: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, 0, Decimal(0)])
    for r in UsageRecord.objects.all():
        key = (
            r.organisation_id,
            r.started_at.astimezone(UTC).date(),
            r.kind,
            r.type,
            r.funded_by,
            r.domestic,
            r.to_country,
        )
        sums = found[key]
        sums[0] += 1
        sums[1] += r.units
        sums[2] += r.plan_minutes
        sums[3] += r.duration_seconds
        sums[4] += r.charge
    return {key: tuple(sums) for key, sums in found.items()}


def aggregated() -> dict[tuple, tuple]:
    return {
        (a.organisation_id, a.day, a.kind, a.type, a.funded_by, a.domestic, a.to_country): (
            a.count,
            a.units,
            a.plan_minutes,
            a.duration_seconds,
            a.charge,
        )
        for a in DailyUsage.objects.all()
    }


def assert_exact() -> None:
    assert aggregated() == grouped_records()
    assert ledger_verify() == []


# Ingest, duplicates, concurrency, rebuild


def test_ingest_adds_each_record_to_its_utc_day(mixed):
    assert UsageRecord.objects.count() > 250
    funded = set(DailyUsage.objects.values_list("funded_by", flat=True))
    assert funded == {FundedBy.PLAN_MINUTES, FundedBy.CREDITS, FundedBy.OVERAGE}
    assert DailyUsage.objects.count() < UsageRecord.objects.count()
    assert_exact()


def test_a_record_at_midnight_utc_counts_on_the_day_it_starts(rated, person):
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(rated, "10")
    base = {"kind": "call", "type": "outbound", "user": "ana@contoso.example", "to": TO[0][0]}
    with time_machine.travel(NOW, tick=False):
        usage_ingest(
            organisation=rated,
            records=[
                {
                    **base,
                    "id": "late",
                    "started_at": "2026-11-18T23:59:59Z",
                    "duration_seconds": 60,
                },
                {
                    **base,
                    "id": "early",
                    "started_at": "2026-11-19T00:00:00Z",
                    "duration_seconds": 120,
                },
            ],
        )
    days = dict(DailyUsage.objects.values_list("day", "units"))
    assert days == {date(2026, 11, 18): 1, date(2026, 11, 19): 2}
    assert_exact()


def test_duplicates_add_nothing(mixed):
    contoso = mixed["contoso"]
    before = aggregated()
    users = [f"{n}@contoso.example" for n in ("ana", "bob", "cy")]
    again = raw_records(200, users, seed=1)  # the same ids again, and once more within a batch
    with time_machine.travel(NOW, tick=False):
        results = usage_ingest(organisation=contoso, records=again[:50] + again[:50], max_age=OLD)
    assert {r.status for r in results} <= {"duplicate", "rejected"}
    assert aggregated() == before
    # New ids beside old ones: only the new ones are added.
    with time_machine.travel(NOW, tick=False):
        fresh = raw_records(20, users, seed=9, prefix="new")
        results = usage_ingest(organisation=contoso, records=again[:30] + fresh, max_age=OLD)
    assert sum(r.status == "rated" for r in results) > 0
    assert aggregated() != before
    assert_exact()


@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_batches_stay_exact(rated):
    """Sixteen batches at once over two organisations, each overlapping its neighbours' ids."""
    other = make_org("fabrikam", name="Fabrikam")
    people = {rated.pk: add_people(rated), other.pk: add_people(other)}
    grant(rated, "1000")
    organisations = [rated, other]
    with time_machine.travel(NOW, tick=False):
        pool = {o.pk: raw_records(400, people[o.pk], seed=o.pk) for o in organisations}

        def batch(i: int) -> None:
            organisation = organisations[i % 2]
            start = (i // 2) * 40  # 100 records each, overlapping the next batch by 60
            usage_ingest(
                organisation=organisation,
                records=pool[organisation.pk][start : start + 100],
                max_age=OLD,
            )

        assert at_once(batch, 16) == []
    recorded = UsageRecord.objects.filter(organisation=rated).values("record_id").distinct()
    assert recorded.count() == UsageRecord.objects.filter(organisation=rated).count() > 200
    assert_exact()


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_during_ingest_stays_exact(rated):
    users = add_people(rated)
    grant(rated, "1000")
    with time_machine.travel(NOW, tick=False):
        records = raw_records(600, users, seed=3)

        def work(i: int) -> None:
            if i % 3 == 0:
                aggregates_rebuild(organisation=rated)
            else:
                usage_ingest(
                    organisation=rated, records=records[i * 50 : i * 50 + 120], max_age=OLD
                )

        assert at_once(work, 12) == []
    assert_exact()


def test_a_rebuild_restores_tampered_aggregates_and_verify_names_them(mixed):
    contoso = mixed["contoso"]
    row = DailyUsage.objects.filter(organisation=contoso).order_by("day").first()
    DailyUsage.objects.filter(pk=row.pk).update(charge=row.charge + Decimal("0.01"))
    gone = DailyUsage.objects.filter(organisation=contoso).order_by("-day").first()
    gone.delete()
    problems = ledger_verify(contoso)
    assert len(problems) == 2
    assert all("the daily usage aggregates equal the records" in p for p in problems)
    assert any(f"day {row.day}" in p for p in problems)
    assert any(f"day {gone.day}" in p and "aggregated (none)" in p for p in problems)
    assert ledger_verify(mixed["newco"]) == []  # one organisation's drift is its own
    aggregates_rebuild(organisation=contoso)
    assert_exact()


def test_verify_names_a_record_stored_without_its_aggregate(mixed):
    """A writer that bypasses ingest (here a direct insert) leaves a drift verify_ledger sees."""
    record = UsageRecord.objects.filter(organisation=mixed["newco"]).first()
    record.pk, record.record_id = None, "bypass"
    record.save()
    assert any("but the records sum to" in p for p in ledger_verify(mixed["newco"]))
    aggregates_rebuild(organisation=mixed["newco"])
    assert_exact()


# The report's and the planner's figures from the aggregates equal those of the records.


def raw_totals(records) -> dict:
    """The report's totals as they were computed from the records before the aggregates."""
    totals = records.order_by().aggregate(
        count=Count("id"),
        units=Sum("units"),
        plan_minutes=Sum("plan_minutes"),
        duration_seconds=Sum("duration_seconds"),
        credits=Sum("charge", filter=Q(funded_by=FundedBy.CREDITS)),
        overage=Sum("charge", filter=Q(funded_by=FundedBy.OVERAGE)),
        charge=Sum("charge"),
    )
    money = {"credits", "overage", "charge"}
    return {key: value or (Decimal(0) if key in money else 0) for key, value in totals.items()}


def raw_daily(records, start: date, end: date) -> list[tuple[date, Decimal, int]]:
    rows = (
        records.order_by()
        .annotate(day=TruncDate("started_at", tzinfo=UTC))
        .values("day")
        .annotate(units=Sum("units"), spend=Sum("charge", filter=Q(funded_by=FundedBy.CREDITS)))
    )
    found = {r["day"]: (r["spend"] or Decimal(0), r["units"] or 0) for r in rows}
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    return [(day, *found.get(day, (Decimal(0), 0))) for day in days]


def _name(params: dict) -> str:
    return "&".join(f"{k}={v}" for k, v in params.items()) or "default"


FILTERS = [
    {},
    {"range": "7"},
    {"range": "90"},
    {"range": "custom", "start": "2026-09-30", "end": "2026-10-31"},
    {"range": "custom", "start": "2026-08-01", "end": "2026-11-20"},  # weekly bars
    {"range": "custom", "start": "2025-11-20", "end": "2026-11-20"},  # monthly bars
    {"range": "custom", "start": "2026-11-21", "end": "2026-11-25"},  # nothing yet
    {"range": "custom", "start": "2026-11-20", "end": "2026-11-01"},  # refused: nothing
    {"range": "90", "type": "outbound"},
    {"range": "90", "type": "conference_dial_out"},
    {"range": "90", "type": "toll_free_dial_in"},
    {"range": "90", "direction": "inbound"},
    {"range": "90", "direction": "outbound"},
    {"domestic": "yes"},
    {"range": "90", "domestic": "no"},
    {"range": "90", "country": "GB"},
    {"country": "US"},
    {"range": "90", "funded_by": "plan_minutes"},
    {"range": "90", "funded_by": "credits"},
    {"range": "90", "funded_by": "overage"},
    {"range": "90", "user": "ana"},
    {"range": "90", "user": "Cy Young"},
    {"range": "90", "user": "YOUNG"},
    {"range": "90", "user": ".example"},  # every user
    {"range": "90", "user": "nobody"},
    {"range": "90", "user": "bob", "type": "outbound", "domestic": "no", "country": "FR"},
    {"range": "90", "domestic": "yes", "funded_by": "credits", "direction": "outbound"},
    {"tab": "sms"},
    {"tab": "sms", "range": "90", "country": "GB"},
    {"tab": "sms", "range": "90", "user": "ana", "funded_by": "credits"},
]


def test_totals_and_chart_from_aggregates_equal_those_of_the_records(mixed):
    """Every filter the report offers, alone and combined, on both organisations (one data set:
    building it is most of the time)."""
    empty = {"nobody", "2026-11-21", "2026-11-20"}
    with time_machine.travel(NOW, tick=False):
        for params in FILTERS:
            query = QueryDict(mutable=True)
            query.update(params)
            kind = UsageRecord.Kind.SMS if params.get("tab") == "sms" else UsageRecord.Kind.CALL
            seen = 0
            for name, organisation in mixed.items():
                label = f"{_name(params)} of {name}"
                filters, records = report_queryset(organisation, kind, query)
                where = report_slice(filters, organisation=organisation, kind=kind)
                period = getattr(filters, "period", None)
                assert where.nothing or (where.start, where.end) == period, label
                expected = raw_totals(records)
                assert usage_totals(where=where) == expected, label
                assert usage_daily(where=where) == raw_daily(records, where.start, where.end), label
                unit, series = chart_series(where)
                assert sum(s for _d, s, _u in series) == expected["credits"], label
                assert sum(u for _d, _s, u in series) == expected["units"], label
                days = len(where.days)
                assert unit == ("day" if days <= 62 else "week" if days <= 190 else "month"), label
                seen += expected["count"]
            if not empty & set(params.values()):
                assert seen > 0, f"{_name(params)} selects records of the test data"


def test_the_report_page_shows_the_aggregates(mixed, client_as):
    client = client_as(Role.REPORTS)
    for params in (FILTERS[0], FILTERS[5], FILTERS[-4], FILTERS[-1]):
        kind = UsageRecord.Kind.SMS if params.get("tab") == "sms" else UsageRecord.Kind.CALL
        with time_machine.travel(NOW, tick=True):
            page = client.get(reverse("usage:report"), params)
            query = QueryDict(mutable=True)
            query.update(params)
            _filters, records = report_queryset(mixed["contoso"], kind, query)
            expected = raw_totals(records)
        assert page.context["totals"] == expected, _name(params)
        bars = page.context["chart"].bars
        assert sum(b["units"] for b in bars) == expected["units"], _name(params)
        assert sum(b["spend"] for b in bars) == expected["credits"], _name(params)


def test_the_report_reads_no_record_for_totals_and_chart(mixed, client_as):
    """Without a user filter only the page of rows (and its count) reads usage records."""
    from django.test.utils import CaptureQueriesContext

    with time_machine.travel(NOW, tick=True), CaptureQueriesContext(connection) as queries:
        assert (
            client_as(Role.REPORTS).get(reverse("usage:report"), {"range": "90"}).status_code == 200
        )
    on_records = [q["sql"] for q in queries if "usage_usagerecord" in q["sql"]]
    assert on_records and all("LIMIT" in sql or "COUNT(*)" in sql for sql in on_records)
    assert not any("SUM(" in sql for sql in on_records)


def test_the_planner_reads_the_aggregates_in_one_query(mixed, django_assert_num_queries):
    """The planner's three windows are the last 7, 28 and 90 UTC days, today included."""
    from usage.services.planner import daily_spend

    contoso = mixed["contoso"]
    credits = UsageRecord.objects.filter(organisation=contoso, funded_by=FundedBy.CREDITS)
    with time_machine.travel(NOW, tick=False):
        with django_assert_num_queries(1):
            spend = daily_spend(contoso)
        for days in (7, 28, 90):
            since = datetime.combine(
                NOW.date() - timedelta(days=days - 1), datetime.min.time(), UTC
            )
            total = credits.filter(started_at__gte=since).aggregate(t=Sum("charge"))["t"]
            assert spend[days] == total / days
        plan = funding_plan(contoso)
    assert plan.daily[90] > 0


def test_a_large_batch_writes_one_row_per_key(rated, person):
    """A thousand records of a few keys: one aggregate row each, whatever the batch's order."""
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(rated, "1000")
    keys = list(itertools.product(range(3), TO[:2]))
    records = [
        {
            "id": f"k{n}",
            "kind": "call",
            "type": "outbound",
            "user": "ana@contoso.example",
            "to": keys[n % len(keys)][1][0],
            "started_at": stamp(NOW - timedelta(days=keys[n % len(keys)][0], hours=1)),
            "duration_seconds": 60,
        }
        for n in range(1000)
    ]
    with time_machine.travel(NOW, tick=False):
        assert {r.status for r in usage_ingest(organisation=rated, records=records)} == {"rated"}
    # Both numbers are in the US: one row a day and way of funding, not one a record.
    assert DailyUsage.objects.count() == len(grouped_records()) <= 6
    assert sum(DailyUsage.objects.values_list("count", flat=True)) == 1000
    assert_exact()


def test_home_and_the_credits_page_read_no_usage_record(mixed, client_as):
    """Their panels (pools and the funding planner) read the pools and the aggregates."""
    from django.test.utils import CaptureQueriesContext

    client = client_as(Role.GLOBAL)
    for name in ("home", "billing:credits"):
        with time_machine.travel(NOW, tick=True), CaptureQueriesContext(connection) as queries:
            assert client.get(reverse(name)).status_code == 200
        assert any("usage_dailyusage" in q["sql"] for q in queries) == (name != "home")
        assert not any("usage_usagerecord" in q["sql"] for q in queries), name
