"""Reports › PSTN and SMS usage: filters, totals, exports and the per-call explanation."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest
from django.urls import reverse

from credits_portal.permissions import Role
from tests.builders import grant
from usage.services.ingest import usage_ingest

pytestmark = pytest.mark.django_db


def iso(days_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def usage(rated, person):
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS", "AUDIO_CONF")
    grant(rated, "50")
    base = {"kind": "call", "user": "ana@contoso.example", "from": "+14255550100"}
    records = [
        {
            **base,
            "id": "dom-1",
            "type": "outbound",
            "to": "+12015550123",
            "started_at": iso(1),
            "duration_seconds": 300,
        },
        {
            **base,
            "id": "intl-1",
            "type": "outbound",
            "to": "+441612345678",
            "started_at": iso(2),
            "duration_seconds": 125,
        },
        {
            **base,
            "id": "tf-1",
            "type": "toll_free_dial_in",
            "to": "+18005550100",
            "started_at": iso(40),
            "duration_seconds": 60,
        },
        {
            **base,
            "id": "=cmd|' /C calc'!A0",
            "type": "outbound",
            "to": "+441612345678",
            "started_at": iso(3),
            "duration_seconds": 60,
        },
        {
            "kind": "sms",
            "type": "sms",
            "id": "sms-1",
            "user": "ana@contoso.example",
            "from": "+14255550100",
            "to": "+821012345678",
            "started_at": iso(1),
        },
    ]
    # tf-1 is 40 days old: only an operator's load may carry it (USAGE_MAX_AGE_DAYS).
    results = usage_ingest(organisation=rated, records=records, max_age=timedelta(days=90))
    assert all(r.status == "rated" for r in results), [r.as_dict() for r in results]
    return rated


def test_calls_of_the_last_28_days_with_totals(client_as, usage):
    page = client_as(Role.REPORTS).get(reverse("usage:report"))
    ids = [r.record_id for r in page.context["records"]]
    assert ids == ["dom-1", "intl-1", "=cmd|' /C calc'!A0"]  # newest first; tf-1 is 40 days old
    totals = page.context["totals"]
    assert (totals["count"], totals["units"], totals["plan_minutes"]) == (3, 9, 5)
    assert totals["credits"] == Decimal("0.09")  # 3 x 0.0230 rounded to 0.07, plus 0.02
    assert b"Plan minutes," in page.content


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"range": "90"}, ["dom-1", "intl-1", "=cmd|' /C calc'!A0", "tf-1"]),
        ({"range": "90", "direction": "inbound"}, ["tf-1"]),
        ({"domestic": "no"}, ["intl-1", "=cmd|' /C calc'!A0"]),
        ({"country": "GB", "sort": "duration"}, ["=cmd|' /C calc'!A0", "intl-1"]),
        ({"funded_by": "plan_minutes"}, ["dom-1"]),
        ({"user": "nobody"}, []),
        ({"range": "custom", "start": "2020-01-01", "end": "2020-01-02"}, []),
    ],
)
def test_filters_and_sort(client_as, usage, params, expected):
    page = client_as(Role.BILLING).get(reverse("usage:report"), params)
    assert [r.record_id for r in page.context["records"]] == expected


def test_the_sms_tab(client_as, usage):
    page = client_as(Role.GLOBAL).get(reverse("usage:report"), {"tab": "sms"})
    assert [r.record_id for r in page.context["records"]] == ["sms-1"]
    assert page.context["totals"]["credits"] == Decimal("0.03")


def test_csv_export_is_rfc_4180_and_escapes_formulas(client_as, usage):
    response = client_as(Role.REPORTS).get(reverse("usage:export_csv"), {"range": "90"})
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeffTime stamp (UTC),Display name") and "\r\n" in body
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert len(rows) == 5 and rows[0][13] == "Call ID"
    ids = {row[13] for row in rows[1:]}
    assert "'=cmd|' /C calc'!A0" in ids, "formula-like text stays text"


def test_excel_export_has_typed_cells_and_frozen_header(client_as, usage):
    response = client_as(Role.REPORTS).get(reverse("usage:export_xlsx"), {"range": "90"})
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    sheet = book["Calls"]
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["Time stamp (UTC)", "Display name", "Username"]
    first = [c for c in sheet[2]]
    assert isinstance(first[0].value, datetime)
    charge = first[header.index("Charge")]
    assert isinstance(charge.value, float | int) and "USD" in charge.number_format
    records = list(sheet.iter_rows(min_row=2, max_row=sheet.max_row - 1))  # the totals row last
    ids = [row[header.index("Call ID")].value for row in records]
    assert "=cmd|' /C calc'!A0" in ids  # written as a string cell, never a formula
    assert all(row[header.index("Call ID")].data_type == "s" for row in records)


def test_one_calls_explanation(client_as, usage):
    page = client_as(Role.REPORTS).get(reverse("usage:record", args=["intl-1"])).content.decode()
    assert "billed as 3 whole minutes" in page and "+44: 0.0230 USD per minute" in page
    assert "Granted by an operator" in page and "-0.07 USD" in page


def test_another_organisations_record_is_404(client_as, usage, other_org):
    from usage.models import UsageRecord
    from usage.services.aggregates import aggregates_add

    record = UsageRecord.objects.get(record_id="dom-1")
    record.pk = None
    record.organisation = other_org
    record.record_id = "theirs-1"
    record.save()
    aggregates_add(records=[record])  # as ingest would
    client = client_as(Role.GLOBAL)
    assert client.get(reverse("usage:record", args=["theirs-1"])).status_code == 404
    page = client.get(reverse("usage:report"), {"range": "90"})
    assert "theirs-1" not in [r.record_id for r in page.context["records"]]


def test_license_admins_cannot_read_the_report(client_as, usage):
    assert client_as(Role.LICENSE).get(reverse("usage:report")).status_code == 403
    assert client_as(Role.LICENSE).get(reverse("usage:export_csv")).status_code == 403


def test_columns_and_time_zone_are_remembered_per_admin(client_as, usage, members):
    reader = client_as(Role.REPORTS)
    response = reader.post(
        reverse("usage:preferences"),
        {
            "call_columns": ["time", "upn", "charge"],
            "sms_columns": ["time", "to"],
            "time_zone": "Asia/Seoul",
        },
    )
    assert response.status_code == 302
    page = reader.get(reverse("usage:report"))
    assert [c[0] for c in page.context["columns"]] == ["time", "upn", "charge"]
    assert "(Asia/Seoul)" in page.content.decode()
    body = b"".join(reader.get(reverse("usage:export_csv")).streaming_content).decode()
    header = body.splitlines()[0].lstrip("\ufeff")
    assert header == "Time stamp (Asia/Seoul),Username,Charge"
    assert len(client_as(Role.BILLING).get(reverse("usage:report")).context["columns"]) == 18, (
        "others keep theirs: the vendor's columns"
    )


def test_bad_preferences_change_nothing(client_as, usage):
    reader = client_as(Role.REPORTS)
    reader.post(
        reverse("usage:preferences"),
        {"call_columns": ["nope"], "sms_columns": ["time"], "time_zone": "Mars/Olympus"},
    )
    assert len(reader.get(reverse("usage:report")).context["columns"]) == 18


def test_a_large_export_runs_in_a_worker_with_progress(
    client_as, usage, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.EXPORT_SYNC_LIMIT = 2
    settings.EXPORTS_DIR = tmp_path
    reader = client_as(Role.REPORTS)
    with django_capture_on_commit_callbacks(execute=True):
        response = reader.get(reverse("usage:export_xlsx"), {"range": "90"})
    assert response.status_code == 302 and "/reports/usage/exports/" in response["Location"]
    page = reader.get(response["Location"])
    assert b"Ready." in page.content
    download = reader.get(response["Location"] + "download")
    book = openpyxl.load_workbook(io.BytesIO(b"".join(download.streaming_content)))
    assert book["Calls"].max_row == 6  # the header, four calls and the totals


def test_a_worker_writes_the_same_csv_as_the_synchronous_export(
    client_as, usage, settings, tmp_path, django_capture_on_commit_callbacks
):
    """One assembly for both (issue 15, item 5): same filters, columns, zone, same bytes."""
    reader = client_as(Role.REPORTS)
    now = reader.get(reverse("usage:export_csv"), {"range": "90", "sort": "call_id"})
    assert now["Content-Disposition"].startswith('attachment; filename="')
    assert "-calls-" in now["Content-Disposition"]
    settings.EXPORT_SYNC_LIMIT = 2
    settings.EXPORTS_DIR = tmp_path
    with django_capture_on_commit_callbacks(execute=True):
        response = reader.get(reverse("usage:export_csv"), {"range": "90", "sort": "call_id"})
    assert response.status_code == 302
    download = reader.get(response["Location"] + "download")
    assert b"".join(download.streaming_content) == b"".join(now.streaming_content)
    assert download["Content-Disposition"].endswith('.csv"')


def test_another_organisations_export_is_404(client_as, usage, other_org, members):
    from usage.models import ExportJob

    theirs = ExportJob.objects.create(
        organisation=other_org, user=members[Role.GLOBAL], kind="call", format="csv", rows_total=1
    )
    client = client_as(Role.GLOBAL)
    assert client.get(reverse("usage:export_job", args=[theirs.code])).status_code == 404
    assert client.get(reverse("usage:export_download", args=[theirs.code])).status_code == 404


def test_lots_drawn_conference_id_and_masked_sms(client_as, usage, rated):
    usage_ingest(
        organisation=rated,
        records=[
            {
                "id": "conf-1",
                "kind": "call",
                "type": "conference_dial_out",
                "user": "ana@contoso.example",
                "to": "+14255550123",
                "started_at": iso(1),
                "duration_seconds": 60,
                "conference_id": "meet-42",
            }
        ],
    )
    reader = client_as(Role.REPORTS)
    reader.post(  # the lots drawn are the portal's own column: shown when chosen
        reverse("usage:preferences"),
        {
            "call_columns": ["time", "conference_id", "lots"],
            "sms_columns": ["time"],
            "time_zone": "UTC",
        },
    )
    page = reader.get(reverse("usage:report"))
    rows = {r.record_id: r for r in page.context["records"]}
    assert rows["conf-1"].conference_id == "meet-42"
    assert rows["intl-1"].lots_drawn.endswith("(0.0700)") and rows["dom-1"].lots_drawn is None
    reader.post(
        reverse("usage:preferences"),
        {
            "call_columns": ["time"],
            "sms_columns": ["time", "to"],
            "time_zone": "UTC",
            "mask_sms_numbers": "on",
        },
    )
    sms = reader.get(reverse("usage:report"), {"tab": "sms"}).content.decode()
    assert "+8210••••678" in sms and "+821012345678" not in sms
    body = b"".join(
        reader.get(reverse("usage:export_csv"), {"tab": "sms"}).streaming_content
    ).decode()
    assert "+8210••••678" in body


# Finding 1 of issue 14: a reader asked for 0001-01-01..9999-12-30 and the page drew a bar a day
# (3 GB and growing); 9999-12-31 overflowed into a 500 on the page and both exports.
@pytest.mark.parametrize("end", ["9999-12-30", "9999-12-31"])
@pytest.mark.parametrize("name", ["usage:report", "usage:export_csv", "usage:export_xlsx"])
def test_an_unbounded_range_is_refused_naming_the_field(client_as, rated, name, end):
    params = {"tab": "sms", "range": "custom", "start": "0001-01-01", "end": end}
    response = client_as(Role.REPORTS).get(reverse(name), params)
    assert response.status_code == 400
    assert b"between 2000-01-01 and 2100-12-31" in response.content
    body = response.content.decode()
    assert "start" in body and "end" in body


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2025-01-01", "2026-06-30", "at most 366 days"),
        ("2026-03-01", "2026-02-01", "must not be before the start"),
        ("2026-02-30", "2026-03-01", "Enter a valid date"),
    ],
)
def test_a_custom_range_is_checked_on_the_form(client_as, rated, start, end, message):
    params = {"range": "custom", "start": start, "end": end}
    for name in ("usage:report", "usage:export_csv"):
        response = client_as(Role.REPORTS).get(reverse(name), params)
        assert response.status_code == 400 and message in response.content.decode()


@pytest.mark.parametrize(
    ("start", "end", "unit", "bars"),
    [
        ("2026-01-01", "2026-01-31", "day", 31),
        ("2026-01-05", "2026-05-31", "week", 21),  # Monday 5 January to the week of 25 May
        ("2025-01-01", "2025-12-31", "month", 12),
        ("2024-01-01", "2024-12-31", "month", 12),  # a leap year: 366 days, still allowed
    ],
)
def test_a_long_range_is_charted_by_week_or_month(client_as, rated, start, end, unit, bars):
    params = {"range": "custom", "start": start, "end": end}
    page = client_as(Role.REPORTS).get(reverse("usage:report"), params)
    assert page.status_code == 200
    chart = page.context["chart"]
    assert (chart.unit, len(chart.bars)) == (unit, bars)
    assert f"credit spend a {unit}" in page.content.decode()


def test_weekly_and_monthly_bars_sum_the_days(client_as, usage):
    today = datetime.now(UTC).date()
    params = {"range": "custom", "start": f"{today - timedelta(days=300):%Y-%m-%d}"}
    page = client_as(Role.REPORTS).get(reverse("usage:report"), params)
    chart = page.context["chart"]
    assert chart.unit == "month"
    assert len(chart.bars) in (10, 11)
    assert sum(b["units"] for b in chart.bars) == page.context["totals"]["units"] > 9  # tf-1's too
