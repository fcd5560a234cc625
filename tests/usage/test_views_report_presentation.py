"""The report's presentation (issue 16, item 4): the Excel file's widths, autofilter and totals
row; a chart with axes, dates and values a keyboard reaches; the organisation-wide cards apart
from the filtered totals."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
from django.urls import reverse

from credits_portal.permissions import Role
from tests.builders import grant
from usage.chart import report_chart
from usage.services.ingest import usage_ingest

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana(rated, person):
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    grant(rated, "500")
    now = datetime.now(UTC)
    records = [
        {
            "id": f"x-{n}",
            "kind": "call",
            "type": "outbound",
            "user": "ana@contoso.example",
            "from": "+14255550100",
            "to": "+441612345678",
            "started_at": (now - timedelta(days=n % 20, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration_seconds": 60 * (n % 5 + 1),
        }
        for n in range(12)
    ]
    assert all(r.status == "rated" for r in usage_ingest(organisation=rated, records=records))
    return rated


def test_the_excel_file_has_widths_an_autofilter_and_a_totals_row(client_as, ana):
    response = client_as(Role.REPORTS).get(reverse("usage:export_xlsx"))
    content = b"".join(response.streaming_content)
    sheet = openpyxl.load_workbook(io.BytesIO(content))["Calls"]
    header = [c.value for c in sheet[1]]
    assert sheet.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(header))}13"
    assert sheet.column_dimensions["A"].width >= 20  # the time fits
    call_id = openpyxl.utils.get_column_letter(header.index("Call ID") + 1)
    assert sheet.column_dimensions[call_id].width >= 36
    totals = [c.value for c in sheet[14]]
    assert totals[0] == "Total (12 rows)"
    charge = openpyxl.utils.get_column_letter(header.index("Charge") + 1)
    assert totals[header.index("Charge")] == f"=SUBTOTAL(109,{charge}2:{charge}13)"
    # The cached value Excel shows before recalculating is the report's own total.
    values = openpyxl.load_workbook(io.BytesIO(content), data_only=True)["Calls"]
    page = client_as(Role.REPORTS).get(reverse("usage:report"))
    cached = values.cell(row=14, column=header.index("Charge") + 1).value
    assert cached == pytest.approx(float(page.context["totals"]["charge"]))
    duration = values.cell(row=14, column=header.index("Duration (seconds)") + 1).value
    assert duration == 12 * 60 + sum(60 * (n % 5) for n in range(12))


def test_an_empty_excel_file_totals_nothing(client_as, rated):
    response = client_as(Role.REPORTS).get(reverse("usage:export_xlsx"))
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))["Calls"]
    assert sheet.max_row == 2 and sheet["A2"].value == "Total (0 rows)"
    assert all(c.value in (None, 0) for c in sheet[2][1:])


def test_the_chart_has_axes_dates_and_focusable_values(client_as, ana):
    page = client_as(Role.REPORTS).get(reverse("usage:report"))
    html = page.content.decode()
    chart = page.context["chart"]
    assert chart.unit == "day" and len(chart.bars) == 28
    assert 1 < len(chart.x_labels) <= 8 and len(chart.y_ticks) == 5
    bars = re.findall(r'<g class="bar" tabindex="0" role="img" aria-label="([^"]+)"', html)
    assert len(bars) == 28
    assert all(re.match(r"\d{4}-\d{2}-\d{2}: [\d.,]+ USD, \d+ billed minutes$", b) for b in bars)
    assert 'aria-live="polite" data-readout' in html and "figures as a table" in html


@pytest.mark.parametrize(("days", "unit", "most"), [(90, "week", 14), (366, "month", 13)])
def test_long_ranges_stay_readable(days, unit, most):
    start = datetime(2025, 1, 1).date()
    from decimal import Decimal

    series = [(start + timedelta(days=n), Decimal("1.5"), n % 7) for n in range(days)]
    # The presentation of buckets the planner made: a week or a month a bar.
    from usage.services import planner

    buckets = {}
    for day, spend, units in series:
        key = day - timedelta(days=day.weekday()) if unit == "week" else day.replace(day=1)
        s, u = buckets.get(key, (Decimal(0), 0))
        buckets[key] = (s + spend, u + units)
    drawn = report_chart([(k, s, u) for k, (s, u) in buckets.items()], unit=unit)
    assert len(drawn.bars) <= most and len(drawn.x_labels) <= 8
    assert all(b["w"] >= 20 for b in drawn.bars), "bars wide enough to see and to point at"
    assert drawn.y_ticks[-1]["spend"] >= drawn.max_spend
    assert planner.WEEKLY_UP_TO >= 90


def test_the_organisation_wide_cards_are_apart_from_the_filtered_totals(client_as, ana):
    html = client_as(Role.REPORTS).get(reverse("usage:report")).content.decode()
    filtered = html[html.index('<section class="filtered"') : html.index("</section>")]
    assert "Paid from credits" in filtered and "Funding planner" not in filtered
    org_wide = html[html.index('<section class="org-wide"') :]
    assert "Funding planner" in org_wide and "Plan minutes," in org_wide
    assert "not affected by the filters" in org_wide
    assert html.index('class="filtered"') < html.index('class="records"') < html.index("org-wide")


def test_the_table_scrolls_in_its_box_and_times_stay_on_one_line(client_as, ana):
    html = client_as(Role.REPORTS).get(reverse("usage:report")).content.decode()
    assert '<div class="scroll table-box" tabindex="0" role="region"' in html
    assert re.search(
        r'<td class="when"><a href="[^"]+">\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}</a>', html
    )
    from pathlib import Path

    css = (Path(__file__).resolve().parents[2] / "static/portal/portal.css").read_text()
    assert "grid-template-columns: 14rem minmax(0, 1fr)" in css  # the page never widens
    assert re.search(r"table\.records th, table\.records td \{ white-space: nowrap;", css)
