"""GET /api/v1/usage/records after issue 16 dropped its own index (`usage_org_time`, written by
every ingested record for this listing alone): the pages are read through
`usage_org_kind_time_id`, one index range scan a kind merged, and still walk every record once,
newest first (ties by id), with every filter, while new records arrive between pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.builders import grant, make_api_key
from usage.models import UsageRecord
from usage.services.ingest import usage_ingest

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BASE = NOW - timedelta(days=3)


@pytest.fixture(autouse=True)
def _in_november_2026():
    with time_machine.travel(NOW, tick=True):
        yield


def record(n: int, *, second: int, kind: str = "call", upn: str = "ana@contoso.example"):
    at = (BASE + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "sms":
        return {"id": f"r{n}", "kind": "sms", "type": "sms", "user": upn,
                "to": "+14255550123", "started_at": at}  # fmt: skip
    return {"id": f"r{n}", "kind": "call", "type": "outbound", "user": upn,
            "to": "+441612345678", "started_at": at, "duration_seconds": 60}  # fmt: skip


@pytest.fixture
def stored(rated, person):
    """31 records of both kinds, three to a second (ties across the kinds), two users."""
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    person("bo", "GB", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(rated, "100")
    batch = [
        record(n, second=n // 3 * 60, kind="sms" if n % 2 else "call",
               upn="bo@contoso.example" if n % 5 == 0 else "ana@contoso.example")
        for n in range(31)
    ]  # fmt: skip
    assert all(r.status == "rated" for r in usage_ingest(organisation=rated, records=batch))
    return rated


@pytest.fixture
def listing(client, stored):
    key = make_api_key(stored, "admin")

    def get(**params):
        response = client.get("/api/v1/usage/records", params, HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 200, response.content
        return response.json()

    return get


def walk(listing, *, between=None, **params) -> list[str]:
    """Every page's ids in turn; `between(n)` runs after page n."""
    ids, cursor, n = [], None, 0
    while True:
        page = listing(**params, **({"cursor": cursor} if cursor else {}))
        ids += [r["id"] for r in page["records"]]
        cursor, n = page["next_cursor"], n + 1
        if between:
            between(n)
        if not cursor:
            return ids


def expected(organisation, **lookups) -> list[str]:
    records = UsageRecord.objects.filter(organisation=organisation, **lookups)
    return list(records.order_by("-started_at", "-id").values_list("record_id", flat=True))


@pytest.mark.parametrize("limit", [1, 4, 7, 100])
def test_the_pages_walk_every_record_once_newest_first(listing, stored, limit):
    assert walk(listing, limit=limit) == expected(stored)


def test_each_filter_pages_the_same(listing, stored):
    day = BASE.date().isoformat()
    assert walk(listing, limit=4, kind="sms") == expected(stored, kind="sms")
    assert walk(listing, limit=4, kind="call") == expected(stored, kind="call")
    assert walk(listing, limit=3, user="bo@contoso.example") == expected(
        stored, user__upn="bo@contoso.example"
    )
    assert walk(listing, limit=5, type="outbound", funded_by="credits") == expected(
        stored, type="outbound", funded_by="credits"
    )
    assert walk(listing, limit=5, **{"from": day, "to": day}) == expected(stored)
    assert walk(listing, limit=5, **{"from": "2026-11-19"}) == []


def test_records_arriving_between_pages_neither_repeat_nor_hide_one(listing, stored):
    """A newer record lands before the cursor (the next walk shows it); an older one, a late
    record, lands after it and is listed in its place; none is listed twice."""
    before = expected(stored)

    def arrive(n: int) -> None:
        if n == 1:
            late = [record(100, second=-60, kind="sms"), record(101, second=10_000)]
            assert all(r.status == "rated" for r in usage_ingest(organisation=stored, records=late))

    ids = walk(listing, limit=4, between=arrive)
    assert len(ids) == len(set(ids)) == len(before) + 1
    assert ids == [i for i in expected(stored) if i != "r101"]


def test_a_page_is_one_index_range_scan_a_kind(listing, stored):
    """The listing's queries read the records through usage_org_kind_time_id in its order (one
    range scan a kind the filters leave, from the cursor): no sort of the organisation's records.
    On a table this small the planner would rather read it all and sort it: sequential and bitmap
    scans and sorts are ruled out to ask it which index serves the order."""
    first = listing(limit=5)
    with CaptureQueriesContext(connection) as queries:
        listing(limit=5, cursor=first["next_cursor"])
        listing(limit=5, cursor=first["next_cursor"], type="sms")
    pages = [
        q["sql"] for q in queries if "ORDER BY" in q["sql"] and "usage_usagerecord" in q["sql"]
    ]
    assert len(pages) == 2 and "UNION ALL" in pages[0] and "UNION" not in pages[1]
    with connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET {setting} = off")
        try:
            for sql, kinds in zip(pages, (2, 1), strict=True):
                cursor.execute("EXPLAIN " + sql)
                plan = "\n".join(row[0] for row in cursor)
                lines = plan.splitlines()
                scans = [n for n, line in enumerate(lines) if "on usage_usagerecord" in line]
                assert len(scans) == kinds, plan
                for n in scans:  # each kind's rows come in the index's order, cut at the page
                    assert "Scan Backward using usage_org_kind_time_id" in lines[n], plan
                    assert "Limit" in lines[n - 1], plan
        finally:
            cursor.execute("RESET ALL")


def test_the_records_table_keeps_only_the_indexes_something_reads():
    """Every index on the usage records costs every ingested record: each one here is read by
    a query (bench/usage_indexes.py prints which). Gone: `usage_org_time` (the records API
    reads usage_org_kind_time_id) and the user foreign key's own index (users are never
    deleted; the report's user filter reads usage_org_user_time)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'usage_usagerecord'"
            " ORDER BY indexname"
        )
        names = [row[0] for row in cursor]
    assert names == [
        "usage_org_kind_charge_id",
        "usage_org_kind_duration_id",
        "usage_org_kind_time_id",
        "usage_org_user_time",
        "usage_overage_invoice",
        "usage_overage_unbilled",
        "usage_record_once",
        "usage_usagerecord_pkey",
    ]
