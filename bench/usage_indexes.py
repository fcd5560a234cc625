"""Which index does each query on the usage records use? EXPLAIN (ANALYZE) of every read of
`usage_usagerecord` the product makes, on bench/report_data.py's records, and each index's
size and scans; the evidence behind usage/migrations/0014_ingest_indexes.py.

    .venv/bin/python -m credits_portal.embedded test -- .venv/bin/python bench/usage_indexes.py
    ... bench/usage_indexes.py --calls 300000     # calls of the large organisation

Writes to `credits_portal_bench_indexes` beside the wrapper's database (never the test
database). The plans printed are the nodes that read the records table (the rest of each plan
is left out), with the query's time.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "credits_portal.settings")
BENCH_DB = "credits_portal_bench_indexes"


def _bench_database() -> None:
    import psycopg2

    url = urlparse(os.environ["DATABASE_URL"])
    if url.path.strip("/") != BENCH_DB:
        conn = psycopg2.connect(url._replace(path="/postgres").geturl())
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB])
            if not cursor.fetchone():
                cursor.execute(f"CREATE DATABASE {BENCH_DB}")
        conn.close()
        os.environ["DATABASE_URL"] = url._replace(path=f"/{BENCH_DB}").geturl()
    os.environ["DATABASE_STATEMENT_TIMEOUT"] = "0"


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--calls", type=int, default=300_000, help="calls of the large organisation")
parser.add_argument("--others", type=int, default=200_000, help="records of 50 others in all")
ARGS = parser.parse_args()
_bench_database()

import django  # noqa: E402

django.setup()

from django.contrib.postgres.aggregates import StringAgg  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import CharField, F, OuterRef, Subquery, Value  # noqa: E402
from django.db.models.functions import Cast, Concat, TruncDate  # noqa: E402
from django.http import QueryDict  # noqa: E402
from django.test import RequestFactory  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import report_data as data  # noqa: E402
from billing.models import LedgerEntry  # noqa: E402
from billing.services.verify import ledger_verify  # noqa: E402
from credits_portal.keyset import cursor_encode, keyset_page  # noqa: E402
from credits_portal.models import Organisation  # noqa: E402
from licensing.models import DirectoryUser  # noqa: E402
from usage.filters import (  # noqa: E402
    lots_drawn_for,
    order_of,
    report_queryset,
    with_lots_drawn,
)
from usage.models import UsageRecord  # noqa: E402
from usage.services.aggregates import aggregates_rebuild, report_slice, usage_totals  # noqa: E402
from usage.services.ingest import _recorded  # noqa: E402
from usage.services.overage import overage_this_month  # noqa: E402
from usage.services.report_export import export_assemble  # noqa: E402

TABLE = "usage_usagerecord"


def _record_nodes(plan: str) -> list[str]:
    """The plan's lines that read the records table, and its timing line."""
    keep = []
    for line in plan.splitlines():
        if re.search(rf"\bon {TABLE}\b|usage_org|usage_record|usage_overage|Execution Time", line):
            keep.append(line.rstrip())
    return keep


def _explain_sql(sql: str, params) -> str:
    """The plan, run (ANALYZE) when the statement only reads."""
    reads = sql.lstrip().upper().startswith(("SELECT", "WITH", "("))
    with connection.cursor() as cursor:
        cursor.execute(("EXPLAIN (ANALYZE, SUMMARY ON) " if reads else "EXPLAIN ") + sql, params)
        return "\n".join(row[0] for row in cursor)


class Captured:
    """The SQL a block of product code ran against the records table."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, tuple]] = []

    def __call__(self, execute, sql, params, many, context):
        writes = re.match(rf'\s*(INSERT INTO|UPDATE|COPY) "?{TABLE}\b|\s*EXPLAIN', sql, re.I)
        if TABLE in sql and not writes:
            self.queries.append((sql, params))
        return execute(sql, params, many, context)


def show(title: str, block) -> None:
    """EXPLAIN ANALYZE of each query `block` makes on the records table."""
    captured = Captured()
    with connection.execute_wrapper(captured):
        block()
    print(f"\n## {title}")
    if not captured.queries:
        print("  (no query on the records table)")
    for sql, params in captured.queries:
        if sql.lstrip().upper().startswith("DECLARE"):  # a server-side cursor: its query
            sql = re.sub(r"^\s*DECLARE .*? CURSOR .*? FOR ", "", sql, flags=re.S)
        started = time.perf_counter()
        plan = _explain_sql(sql, params)
        took = (time.perf_counter() - started) * 1000
        print(f"  -- {sql[:150]}{'…' if len(sql) > 150 else ''}  [{took:.0f} ms explained]")
        for line in _record_nodes(plan):
            print("    " + line)


def setup() -> Organisation:
    call_command("migrate", verbosity=0)
    data.OTHERS, data.OTHER_RECORDS = 50, ARGS.others
    target, others = data.setup()
    took = data.generate(target, others, ARGS.calls)
    if took:
        aggregates_rebuild(organisation=target)
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {TABLE}")
            cursor.execute("VACUUM ANALYZE billing_ledgerentry")
    return target


def indexes() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.indexrelname, pg_size_pretty(pg_relation_size(s.indexrelid)), s.idx_scan,"
            " pg_get_indexdef(s.indexrelid)"
            " FROM pg_stat_user_indexes s WHERE s.relname = %s ORDER BY s.indexrelname",
            [TABLE],
        )
        print(f"\n## Indexes of {TABLE} (size, scans since the statistics were reset)")
        for name, size, scans, definition in cursor:
            print(f"  {name:38s} {size:>8s} {scans:>8} {definition.split(' USING ')[1]}")


def _old_lots_drawn(records):
    """The lots column as it was read before issue 16's change: a subquery a row."""
    drawn = (
        LedgerEntry.objects.filter(
            account__organisation=OuterRef("organisation"),
            reference=Concat(Value("usage:"), OuterRef("record_id"), output_field=CharField()),
            lot__isnull=False,
        )
        .order_by()
        .values("account")
        .annotate(
            lots=StringAgg(
                Concat(
                    Cast(TruncDate("lot__purchased_at"), CharField()),
                    Value(" ("),
                    Cast(-F("amount"), CharField()),
                    Value(")"),
                    output_field=CharField(),
                ),
                delimiter="; ",
                order_by="id",
            )
        )
        .values("lots")
    )
    return records.annotate(lots_drawn=Subquery(drawn[:1], output_field=CharField()))


def lots_read(target: Organisation) -> None:
    """The 90-day calls' export fields read three ways: without the lots, with the lots as the
    export reads them (usage.filters.with_lots_drawn), with the old subquery; rows/s of each."""
    _filters, records = report_queryset(target, "call", QueryDict("range=90"))
    fields = ["started_at", "record_id", "charge", "funded_by"]
    ways = {
        "no lots column": records,
        "lots, the account's id (now)": with_lots_drawn(records, organisation_id=target.pk),
        "lots, the accounts joined (before)": _old_lots_drawn(records),
    }
    print("\n## The export's rows with and without the lots column (90 days of calls)")
    for name, rows in ways.items():
        names = fields if rows is records else [*fields, "lots_drawn"]
        started = time.perf_counter()
        count = sum(1 for _row in rows.values_list(*names).iterator(chunk_size=2000))
        took = time.perf_counter() - started
        print(f"  {name:36s} {count:8,} rows  {count / took:9,.0f} rows/s")


def main() -> None:
    target = setup()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_reset()")
    calls = UsageRecord.objects.filter(organisation=target, kind="call").count()
    print(f"{UsageRecord.objects.count():,} records, {calls:,} calls of {data.SLUG}")
    user = DirectoryUser.objects.filter(organisation=target).order_by("pk")[7]
    now = timezone.now()

    def page(query: str, *, second: bool = False, lots: bool = False):
        def run():
            filters, records = report_queryset(target, "call", QueryDict(query))
            order = order_of(filters)
            first = keyset_page(records, order, None, 50)
            if second:
                keyset_page(records, order, cursor_encode(order, first.rows[-1]), 50)
            if lots:
                lots_drawn_for(first.rows)

        return run

    for query in ("", "range=90", "range=90&sort=-charge", "range=90&sort=duration",
                  "range=90&sort=call_id"):  # fmt: skip
        show(
            f"report page, {query or 'default'} (first page and the next)", page(query, second=True)
        )
    show("report page, user filter", page(f"range=90&user={user.upn[:8]}"))
    show("report page, lots drawn for the shown rows", page("range=90", lots=True))

    def totals_by_user():
        filters, _records = report_queryset(target, "call", QueryDict(f"user={user.upn[:8]}"))
        usage_totals(where=report_slice(filters, organisation=target, kind="call"))

    show("report totals, user filter (records of the matched users)", totals_by_user)

    def api(query: str, cursor: bool = True):
        from usage.api import records_list

        def run():
            request = RequestFactory().get("/api/v1/usage/records", QueryDict(query))
            request.organisation = target
            from usage.api import RecordsQuery

            values = {k: v for k, v in QueryDict(query).items()}
            parsed = RecordsQuery(**values)
            page = records_list(request, parsed)
            if cursor and page["next_cursor"]:
                records_list(request, RecordsQuery(**values, cursor=page["next_cursor"]))

        return run

    day = (now - timedelta(days=10)).date().isoformat()
    for query in ("", "kind=call", "kind=sms&limit=1000", f"from={day}&to={day}",
                  f"user={user.upn}", "funded_by=credits&type=outbound"):  # fmt: skip
        show(f"records API, {query or 'no filter'} (first page and the next)", api(query))

    def export(query: str):
        def run():
            admin = data.ADMIN
            from django.contrib.auth import get_user_model

            who = get_user_model().objects.get(email=admin)
            job = export_assemble(
                organisation=target, user=who, kind="call", params=QueryDict(query)
            )
            job.records.count()
            next(iter(job.rows.values_list("id").iterator(chunk_size=10)), None)

        return run

    show("export, range=90 (count, then the rows)", export("range=90"))
    lots_read(target)
    show("overage this month", lambda: overage_this_month(target, now=now))
    ids = [f"bench-call-{n:08d}" for n in range(0, 1000)]
    show("duplicate probe of ingest", lambda: _recorded(target, ids))
    show("aggregates rebuild", lambda: aggregates_rebuild(organisation=target))

    def verify():
        problems = ledger_verify(target)
        assert not problems, problems[:3]

    show("verify_ledger (the organisation)", verify)
    indexes()


if __name__ == "__main__":
    main()
