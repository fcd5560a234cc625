"""Reports › PSTN and SMS usage in a real browser: filter, explain one call, export to Excel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import openpyxl
import pytest

from credits_portal.permissions import Role
from tests.browser.conftest import ARTEFACTS, sign_in
from tests.builders import PASSWORD, grant, make_member
from usage.services.ingest import usage_ingest

pytestmark = pytest.mark.django_db(transaction=True)


def iso(days_ago: int, hour: int = 9) -> str:
    at = datetime.now(UTC).replace(hour=hour, minute=15, second=0) - timedelta(days=days_ago)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def calls(org, caller):
    grant(org, "50.00")
    base = {"kind": "call", "type": "outbound", "user": caller.upn, "from": "+14255550100"}
    records = [
        {
            **base,
            "id": "dom-1",
            "to": "+12015550123",
            "started_at": iso(1),
            "duration_seconds": 300,
        },
        {
            **base,
            "id": "uk-1",
            "to": "+441612345678",
            "started_at": iso(2),
            "duration_seconds": 125,
        },
        {**base, "id": "jp-1", "to": "+81312345678", "started_at": iso(3), "duration_seconds": 61},
        {
            **base,
            "id": "old-uk",
            "to": "+441612345678",
            "started_at": iso(40),
            "duration_seconds": 60,
        },
        {
            "kind": "sms",
            "type": "sms",
            "id": "sms-1",
            "user": caller.upn,
            "from": "+14255550100",
            "to": "+821012345678",
            "started_at": iso(1),
        },
    ]
    # old-uk is 40 days old: only an operator's load may carry it (USAGE_MAX_AGE_DAYS).
    results = usage_ingest(organisation=org, records=records, max_age=timedelta(days=90))
    assert all(r.status == "rated" for r in results), [r.as_dict() for r in results]


def test_filter_explain_one_call_and_export_it_to_excel(page, look, org, calls):
    sign_in(page, make_member(org, Role.REPORTS).email, PASSWORD)
    page.click("nav.side >> text=PSTN and SMS usage")
    rows = page.get_by_role("table", name="Calls").locator("tbody tr")
    assert rows.count() == 3, "calls of the last 28 days, no SMS"
    look("usage-report")

    page.select_option("#id_domestic", label="International")
    page.click("form.filters button[type=submit]")
    assert "domestic=no" in page.url
    assert [row.get_by_role("link").last.inner_text() for row in rows.all()] == ["uk-1", "jp-1"]
    totals = page.inner_text("section[aria-labelledby=tot-h]")
    assert "Calls\n2\n" in totals and "Paid from credits\n0.19 USD" in totals  # 0.07 + 0.12
    look("usage-report-international")

    # The call's explanation opens in a details panel over the report (issue 20).
    page.get_by_role("link", name="uk-1", exact=True).click()
    assert page.inner_text("#flyout-dialog h1") == "How uk-1 was rated"
    explained = page.inner_text("#flyout-dialog dl")
    assert "125 s, billed as 3 whole minutes" in explained
    assert "Outbound to +44: 0.0230 USD per minute" in explained
    assert "(3 − 0) × 0.0230 = 0.07 USD (Communications Credits" in explained
    assert "-0.07 USD" in page.inner_text("#flyout-dialog table[aria-labelledby=lots-h]")
    look("usage-record")

    page.keyboard.press("Escape")
    assert not page.is_visible("#flyout-dialog")
    with page.expect_download() as info:
        page.click("text=Export to Excel")
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    saved = ARTEFACTS / download.suggested_filename
    download.save_as(saved)
    sheet = openpyxl.load_workbook(saved).active
    header, *data, totals = list(sheet.iter_rows(values_only=True))
    assert header[0].startswith("Time stamp") and "Call ID" in header
    assert totals[header.index("Call ID")] is None, "the last row is the totals row"
    by_id = {row[header.index("Call ID")]: dict(zip(header, row, strict=True)) for row in data}
    assert set(by_id) == {"uk-1", "jp-1"}, "the export follows the filters"
    assert by_id["uk-1"]["Charge"] == 0.07 and by_id["jp-1"]["Charge"] == 0.12
    assert by_id["jp-1"]["Called to"] == "+81312345678"
    assert by_id["uk-1"]["Duration (seconds)"] == 125
    assert isinstance(by_id["uk-1"][header[0]], datetime)
