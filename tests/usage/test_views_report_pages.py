"""The report's pages at scale (issue 16, item 2): keyset pages that never skip or repeat a row
while records arrive, hostile cursors, only indexed sorts, the lots column only when chosen."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from credits_portal.permissions import Role
from tests.builders import grant
from usage.filters import SORTS
from usage.models import UsageRecord
from usage.services.ingest import usage_ingest

pytestmark = pytest.mark.django_db
NOW = datetime.now(UTC).replace(microsecond=0)
_ids = itertools.count(1)


def calls(organisation, n: int, *, hours_ago: int = 1) -> list[str]:
    """`n` calls, two to a second (ties on the time), domestic and international (ties on a
    zero charge), of a few durations (ties on the duration)."""
    records = []
    for i in range(n):
        number = next(_ids)
        records.append(
            {
                "id": f"c-{number:04d}",
                "kind": "call",
                "type": "outbound",
                "user": "ana@contoso.example",
                "from": "+14255550100",
                "to": "+441612345678" if number % 3 else "+12015550123",
                "started_at": (NOW - timedelta(hours=hours_ago, seconds=i // 2)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                "duration_seconds": 60 * (number % 4) + 30,
            }
        )
    results = usage_ingest(organisation=organisation, records=records)
    assert all(r.status == "rated" for r in results), [r.as_dict() for r in results]
    return [r["id"] for r in records]


@pytest.fixture
def ana(rated, person):
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    grant(rated, "500")
    return rated


def shown(page) -> list[str]:
    return [r.record_id for r in page.context["records"]]


def link(page, rel: str) -> str | None:
    found = re.search(rf'<a href="(\?[^"]*)" rel="{rel}">', page.content.decode())
    return unescape(found.group(1)) if found else None


SORT_NAMES = [name for _field, name in SORTS] + [f"-{name}" for _field, name in SORTS]


@pytest.mark.parametrize("sort", ["", *SORT_NAMES])
def test_keyset_pages_never_skip_or_repeat_while_records_arrive(client_as, ana, monkeypatch, sort):
    monkeypatch.setattr("usage.views.PAGE_SIZE", 7)
    before = set(calls(ana, 30))
    reader = client_as(Role.REPORTS)
    url = reverse("usage:report")
    page = reader.get(url, {"sort": sort} if sort else {})
    assert page.status_code == 200
    walked, pages = shown(page), 1
    while next_link := link(page, "next"):
        # Newer calls, older calls and calls in the same seconds arrive between two loads.
        calls(ana, 3, hours_ago=pages % 3)
        page = reader.get(url + next_link)
        assert page.status_code == 200 and len(shown(page)) <= 7
        walked += shown(page)
        pages += 1
    assert pages >= 5
    assert len(walked) == len(set(walked)), "a row was shown twice"
    assert before <= set(walked), "a row was skipped"
    keys = [
        UsageRecord.objects.values_list("id", flat=True).get(record_id=r, organisation=ana)
        for r in walked
    ]
    assert len(keys) == len(walked)

    # And back: the previous links retrace the same pages, newest page last.
    back = shown(page)
    while previous := link(page, "prev"):
        page = reader.get(url + previous)
        back = shown(page) + back
        assert link(page, "first") or not link(page, "prev")
    assert set(back) >= before


def test_the_first_page_offers_no_previous_page(client_as, ana, monkeypatch):
    monkeypatch.setattr("usage.views.PAGE_SIZE", 7)
    calls(ana, 10)
    page = client_as(Role.REPORTS).get(reverse("usage:report"))
    assert link(page, "next") and not link(page, "prev") and not link(page, "first")
    last = client_as(Role.REPORTS).get(reverse("usage:report") + link(page, "next"))
    assert len(shown(last)) == 3 and not link(last, "next")
    assert link(last, "first") and link(last, "prev")


def test_no_page_counts_every_row(client_as, ana, monkeypatch):
    """No COUNT over the records beside the totals, no OFFSET: a deep page costs a first one."""
    monkeypatch.setattr("usage.views.PAGE_SIZE", 5)
    calls(ana, 20)
    reader = client_as(Role.REPORTS)
    first = reader.get(reverse("usage:report"))
    with CaptureQueriesContext(connection) as queries:
        reader.get(reverse("usage:report") + link(first, "next"))
    records = [q["sql"] for q in queries if 'FROM "usage_usagerecord"' in q["sql"]]
    assert not [sql for sql in records if "OFFSET" in sql]
    assert not [sql for sql in records if re.search(r"SELECT COUNT\(\*\) AS", sql)]
    assert [sql for sql in records if "ROW(" in sql and "LIMIT 6" in sql]


def cursor_of(client, params: dict) -> str:
    page = client.get(reverse("usage:report"), params)
    return re.search(r"cursor=([^&]+)", unescape(link(page, "next"))).group(1)


def test_hostile_cursors_give_the_first_page(client_as, ana, monkeypatch):
    monkeypatch.setattr("usage.views.PAGE_SIZE", 5)
    calls(ana, 12)
    reader = client_as(Role.REPORTS)
    first = shown(reader.get(reverse("usage:report")))
    by_charge = cursor_of(reader, {"sort": "-charge"})
    by_time = cursor_of(reader, {})
    from urllib.parse import unquote

    forged = unquote(by_time)[:-3] + "AAA"
    for cursor in [
        "garbage",
        "\x00",
        "x" * 100_000,
        "%00",
        unquote(by_charge),  # another sort's cursor
        forged,
        "e30:1abcde:xyz",
        "",
    ]:
        page = reader.get(reverse("usage:report"), {"cursor": cursor})
        if page.status_code == 400:  # refused at the edge (a NUL), naming the parameter
            assert "cursor" in page.content.decode(), cursor[:20]
            continue
        assert page.status_code == 200, cursor[:20]
        assert shown(page) == first
        if cursor:
            assert "cursor" in page.content.decode()
    # The other sort's cursor does its job on its own sort.
    page = reader.get(reverse("usage:report"), {"sort": "-charge", "cursor": unquote(by_charge)})
    assert page.status_code == 200 and not page.context["records"].is_first


def test_sorts_without_an_index_are_refused_naming_sort(client_as, ana):
    page = client_as(Role.REPORTS).get(reverse("usage:report"), {"sort": "name"})
    assert page.status_code == 400 and "sort" in page.context["filters"].form.errors
    select = re.search(r'<select name="sort"[^>]*>(.*?)</select>', page.content.decode(), re.S)
    offered = set(re.findall(r'<option value="([^"]*)"', select.group(1))) - {""}
    assert offered == set(SORT_NAMES)


def test_the_lots_column_is_read_only_when_chosen_and_for_the_shown_rows(
    client_as, ana, monkeypatch
):
    monkeypatch.setattr("usage.views.PAGE_SIZE", 5)
    calls(ana, 12)
    reader = client_as(Role.REPORTS)
    with CaptureQueriesContext(connection) as queries:
        page = reader.get(reverse("usage:report"))
    assert "lots" not in [c[0] for c in page.context["columns"]]
    assert not [q for q in queries if "STRING_AGG" in q["sql"]]

    reader.post(
        reverse("usage:preferences"),
        {"call_columns": ["time", "charge", "lots"], "sms_columns": ["time"], "time_zone": "UTC"},
    )
    with CaptureQueriesContext(connection) as queries:
        page = reader.get(reverse("usage:report"))
    lots = [q["sql"] for q in queries if "STRING_AGG" in q["sql"]]
    assert len(lots) == 1
    ids = [str(r.pk) for r in page.context["records"]]
    assert re.search(r'\."id" IN \(([0-9, ]+)\)', lots[0]).group(1).split(", ") == ids
    drawn = [r.lots_drawn for r in page.context["records"]]
    assert any(d and d.endswith(")") for d in drawn)

    # The exports read it only when chosen too.
    reader.post(
        reverse("usage:preferences"),
        {"call_columns": ["time", "charge"], "sms_columns": ["time"], "time_zone": "UTC"},
    )
    with CaptureQueriesContext(connection) as queries:
        body = b"".join(reader.get(reverse("usage:export_csv")).streaming_content)
    assert body.count(b"\r\n") == 13
    assert not [q for q in queries if "STRING_AGG" in q["sql"]]


def test_the_default_columns_are_the_vendors(client_as, ana):
    calls(ana, 1)
    page = client_as(Role.REPORTS).get(reverse("usage:report"))
    keys = [c[0] for c in page.context["columns"]]
    assert keys[:3] == ["time", "name", "upn"] and keys[-1] == "capability" and len(keys) == 18
    assert not {"plan_minutes", "funded_by", "lots", "rate"} & set(keys)
    sms = client_as(Role.REPORTS).get(reverse("usage:report"), {"tab": "sms"})
    assert len(sms.context["columns"]) == 11


def test_the_time_zones_are_chosen_on_their_own_page(client_as, ana):
    reader = client_as(Role.REPORTS)
    report = reader.get(reverse("usage:report"), {"range": "7"}).content.decode()
    assert "Pacific/Kiritimati" not in report and 'name="time_zone"' not in report
    columns = re.search(r'href="(/reports/usage/columns/[^"]*)"', report).group(1)
    page = reader.get(unescape(columns))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="time_zone"' in body and "Pacific/Kiritimati" in body
    assert 'name="query" value="range=7"' in body
    saved = reader.post(
        reverse("usage:preferences"),
        {
            "call_columns": ["time", "rate"],
            "sms_columns": ["time"],
            "time_zone": "Asia/Seoul",
            "query": "range=7",
        },
    )
    assert saved["Location"] == reverse("usage:report") + "?range=7"
    assert [c[0] for c in reader.get(saved["Location"]).context["columns"]] == ["time", "rate"]


def test_the_country_filter_keeps_its_choice(client_as, ana):
    page = client_as(Role.REPORTS).get(reverse("usage:report"), {"country": "GB"})
    body = page.content.decode()
    assert '<option value="GB" selected>' in body and body.count(" selected>") >= 1
    assert '<option value="">Anywhere</option>' in body
    assert (
        client_as(Role.REPORTS).get(reverse("usage:report"), {"country": "ZZ"}).status_code == 400
    )
