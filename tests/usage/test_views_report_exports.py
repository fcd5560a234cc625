"""Issue 16, item 7: the report's exports at the speed of a bare writer. They read plain values of
the chosen columns through a server-side cursor, never models; every cell stays what it was: the
admin's time zone, formula-like text kept as text in the CSV, masked SMS recipients, typed cells,
widths, the autofilter and the totals row in Excel."""

from __future__ import annotations

import csv
import io
import zoneinfo
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from credits_portal.permissions import Role
from tests.builders import grant
from usage.exports import CALL_COLUMNS, SMS_COLUMNS
from usage.models import UsageRecord
from usage.services.ingest import usage_ingest

pytestmark = pytest.mark.django_db
SEOUL = zoneinfo.ZoneInfo("Asia/Seoul")
AT = (datetime.now(UTC) - timedelta(days=2)).replace(hour=20, minute=5, second=7, microsecond=0)


@pytest.fixture
def calls(rated, person):
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS", "AUDIO_CONF")
    grant(rated, "50")
    base = {"user": "ana@contoso.example", "from": "+14255550100"}
    when = AT.strftime("%Y-%m-%dT%H:%M:%SZ")
    records = [
        {**base, "id": "intl-1", "kind": "call", "type": "outbound", "to": "+441612345678",
         "started_at": when, "duration_seconds": 125},
        {**base, "id": "dom-1", "kind": "call", "type": "outbound", "to": "+12015550123",
         "started_at": when, "duration_seconds": 300},
        {**base, "id": "tf-1", "kind": "call", "type": "toll_free_dial_in", "to": "+18005550100",
         "started_at": when, "duration_seconds": 60},
        {**base, "id": "=HYPERLINK(\"x\")", "kind": "call", "type": "conference_dial_out",
         "to": "+14255550123", "started_at": when, "duration_seconds": 61,
         "conference_id": "@meet-42"},
        {**base, "id": "sms-1", "kind": "sms", "type": "sms", "to": "+821012345678",
         "started_at": when},
    ]  # fmt: skip
    assert all(r.status == "rated" for r in usage_ingest(organisation=rated, records=records))
    return rated


@pytest.fixture
def reader(client_as, calls):
    """A reports reader who chose every column, Seoul time and masked SMS recipients."""
    client = client_as(Role.REPORTS)
    client.post(
        reverse("usage:preferences"),
        {
            "call_columns": [key for key, _t, _g in CALL_COLUMNS],
            "sms_columns": [key for key, _t, _g in SMS_COLUMNS],
            "time_zone": "Asia/Seoul",
            "mask_sms_numbers": "on",
        },
    )
    return client


def csv_of(client, **params) -> list[dict]:
    body = b"".join(client.get(reverse("usage:export_csv"), params).streaming_content).decode()
    assert body.startswith("\ufeff") and body.endswith("\r\n")
    return list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))


def test_every_call_column_of_the_csv_keeps_its_cell(reader):
    rows = {row["Call ID"]: row for row in csv_of(reader)}
    record = UsageRecord.objects.select_related("user").get(record_id="intl-1")
    assert rows["intl-1"] == {
        "Time stamp (Asia/Seoul)": AT.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M:%S"),
        "Display name": record.user.display_name,
        "Username": "ana@contoso.example",
        "Phone number": record.user.phone_number,
        "Call type": "Outbound",
        "Called to": "'+441612345678",  # a leading + is a formula to a spreadsheet
        "To country or region": "GB",
        "Called from": "'+14255550100",
        "From country or region": "US",
        "Charge": "0.0700",
        "Currency": "USD",
        "Duration (seconds)": "125",
        "Domestic/international": "International",
        "Call ID": "intl-1",
        "Number type": "User",
        "Usage location": "US",
        "Conference ID": "",
        "Capability": record.capability,
        "Plan minutes used": "0",
        "Funded by": "Communications Credits",
        "Credit lots drawn": rows["intl-1"]["Credit lots drawn"],
        "Rate applied": "0.0230",
    }
    assert rows["intl-1"]["Credit lots drawn"].endswith(" (0.0700)")
    assert rows["dom-1"]["Funded by"] == "Plan minutes" and rows["dom-1"]["Charge"] == "0"
    assert rows["dom-1"]["Plan minutes used"] == "5" and rows["dom-1"]["Credit lots drawn"] == ""
    assert (rows["tf-1"]["Number type"], rows["tf-1"]["Call type"]) == (
        "Toll-free",
        "Toll-free dial-in",
    )
    formula = rows['\'=HYPERLINK("x")']
    assert formula["Conference ID"] == "'@meet-42"
    assert formula["Call type"] == "Conference dial-out"


def test_the_sms_csv_masks_the_recipient(reader):
    (sms,) = csv_of(reader, tab="sms")
    assert sms["To"] == "'+8210••••678" and sms["From"] == "'+14255550100"
    assert sms["Sent time (Asia/Seoul)"] == AT.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M:%S")
    assert (sms["Units"], sms["Charge"], sms["Currency"]) == ("1", "0.0300", "USD")


def test_every_call_column_of_the_excel_file_keeps_its_type(reader):
    response = reader.get(reverse("usage:export_xlsx"))
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))["Calls"]
    header = [c.value for c in sheet[1]]
    assert header[0] == "Time stamp (Asia/Seoul)" and len(header) == len(CALL_COLUMNS)
    rows = {
        row[header.index("Call ID")].value: {h: c for h, c in zip(header, row, strict=True)}
        for row in sheet.iter_rows(min_row=2, max_row=sheet.max_row - 1)
    }
    intl = rows["intl-1"]
    assert intl[header[0]].value == AT.astimezone(SEOUL).replace(tzinfo=None)
    assert intl[header[0]].number_format == "yyyy-mm-dd hh:mm:ss"
    assert intl["Charge"].value == 0.07 and "USD" in intl["Charge"].number_format
    assert intl["Rate applied"].value == 0.023 and intl["Rate applied"].number_format == "0.0000"
    assert intl["Duration (seconds)"].value == 125 and intl["Plan minutes used"].value == 0
    assert intl["Called to"].value == "+441612345678" and intl["Called to"].data_type == "s"
    assert intl["Domestic/international"].value == "International"
    assert intl["Funded by"].value == "Communications Credits"
    assert intl["Credit lots drawn"].value.endswith(" (0.0700)")
    assert rows["dom-1"]["Credit lots drawn"].value in ("", None)
    formula = rows['=HYPERLINK("x")']
    assert formula["Call ID"].data_type == "s" and formula["Conference ID"].value == "@meet-42"
    totals = [c.value for c in sheet[sheet.max_row]]
    assert totals[0] == "Total (4 rows)"
    assert sheet.auto_filter.ref.endswith("5")


def test_the_exports_read_the_chosen_columns_values_only(client_as, calls):
    """No record, no user built a row: the query names the chosen columns' fields only."""
    client = client_as(Role.REPORTS)
    client.post(
        reverse("usage:preferences"),
        {"call_columns": ["time", "upn", "charge"], "sms_columns": ["time"], "time_zone": "UTC"},
    )
    for name in ("usage:export_csv", "usage:export_xlsx"):
        with CaptureQueriesContext(connection) as queries:
            b"".join(client.get(reverse(name)).streaming_content)
        (read,) = [q["sql"] for q in queries
                   if 'FROM "usage_usagerecord"' in q["sql"] and "ORDER BY" in q["sql"]]  # fmt: skip
        selected = read.split(" FROM ")[0]
        assert '"started_at"' in selected and '"upn"' in selected and '"charge"' in selected
        for unread in ("authorization_code", "conference_id", "display_name", "rate_prefix"):
            assert unread not in selected, (name, unread)
