"""Issue 16: the report's opt-in "credit lots drawn" column (`usage.filters.with_lots_drawn`)
probes the ledger with the account's id itself instead of joining the accounts for every row
(the CSV export ran at 0.41x a bare writer with it). Its values are the same as before,
compared here with the old subquery itself on records that drew several lots each."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.postgres.aggregates import StringAgg
from django.db import connection
from django.db.models import CharField, F, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat, TruncDate
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import LedgerEntry
from credits_portal.permissions import Role
from tests.builders import grant, make_member
from usage.exports import CALL_COLUMNS
from usage.filters import lots_drawn_for, with_lots_drawn
from usage.models import UsageRecord
from usage.preferences import preference_save
from usage.services.ingest import usage_ingest
from usage.services.report_export import export_assemble

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MANCHESTER = "+441612345678"  # 0.0230 a minute


def old_lots_drawn(records):
    """The column as it was computed before: a correlated subquery a record (the reference)."""
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
    annotated = records.annotate(lots_drawn=Subquery(drawn[:1], output_field=CharField()))
    return dict(annotated.values_list("record_id", "lots_drawn"))


@pytest.fixture
def drawn(rated, person):
    """Calls of ana funded by credits from small lots bought on different days (one late in the
    UTC day, another day in Seoul), so that most calls draw two or three lots; one call is
    covered by her plan and draws none."""
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    for days_ago, hour in ((40, 9), (30, 21), (20, 23), (10, 3), (5, 22)):
        with time_machine.travel(NOW - timedelta(days=days_ago, hours=12 - hour), tick=False):
            grant(rated, "0.30")
    with time_machine.travel(NOW, tick=True):
        records = [
            {"id": f"c{n}", "kind": "call", "type": "outbound", "user": "ana@contoso.example",
             "from": "+14255550100", "to": MANCHESTER, "duration_seconds": 60 * (5 + 2 * n),
             "started_at": (NOW - timedelta(hours=n + 1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
            for n in range(6)
        ] + [
            {"id": "plan-1", "kind": "call", "type": "outbound", "user": "ana@contoso.example",
             "from": "+14255550100", "to": "+12015550123", "duration_seconds": 120,
             "started_at": (NOW - timedelta(hours=9)).strftime("%Y-%m-%dT%H:%M:%SZ")},
        ]  # fmt: skip
        results = usage_ingest(organisation=rated, records=records)
    assert [r.status for r in results] == ["rated"] * 7
    return rated


def new_lots_drawn(records, organisation):
    annotated = with_lots_drawn(records, organisation_id=organisation.pk)
    return dict(annotated.values_list("record_id", "lots_drawn"))


def test_lots_drawn_equal_the_old_subquery(drawn):
    records = UsageRecord.objects.filter(organisation=drawn)
    old = old_lots_drawn(records)
    several = [lots for lots in old.values() if lots and lots.count(";") >= 1]
    assert len(several) >= 3 and old["plan-1"] is None  # the case this is about
    assert new_lots_drawn(records, drawn) == old
    with timezone.override("Asia/Seoul"):  # the dates are the active zone's, as before
        seoul = old_lots_drawn(records)
        assert seoul != old
        assert new_lots_drawn(records, drawn) == seoul


def test_another_organisations_account_draws_nothing_here(drawn, other_org):
    records = UsageRecord.objects.filter(organisation=drawn)
    assert set(new_lots_drawn(records, other_org).values()) == {None}


def test_the_page_sets_the_same_values(drawn):
    rows = list(UsageRecord.objects.filter(organisation=drawn).order_by("record_id"))
    lots_drawn_for(rows)
    old = old_lots_drawn(UsageRecord.objects.filter(organisation=drawn))
    assert {r.record_id: r.lots_drawn for r in rows} == old


def test_the_csv_export_probes_the_ledger_with_the_account_id(drawn):
    """One query reads the rows and their lots; no row joins the accounts to find the ledger."""
    user = make_member(drawn, Role.REPORTS)
    keys = [key for key, _title, _get in CALL_COLUMNS]
    preference_save(user=user, call_columns=keys, sms_columns=[], time_zone="UTC")
    export = export_assemble(
        organisation=drawn, user=user, kind=UsageRecord.Kind.CALL, params=QueryDict("range=90")
    )
    with CaptureQueriesContext(connection) as queries:
        text = "".join(export.csv_lines())
    lots_queries = [q["sql"] for q in queries if "STRING_AGG" in q["sql"]]
    assert len(lots_queries) == 1 and "billing_creditaccount" not in lots_queries[0]
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    old = old_lots_drawn(UsageRecord.objects.filter(organisation=drawn))
    assert {r["Call ID"]: r["Credit lots drawn"] for r in rows} == {
        key: lots or "" for key, lots in old.items()
    }


def test_the_excel_export_has_the_same_values(drawn):
    import openpyxl

    user = make_member(drawn, Role.REPORTS)
    preference_save(
        user=user, call_columns=["call_id", "lots", "charge"], sms_columns=[], time_zone="UTC"
    )
    export = export_assemble(
        organisation=drawn, user=user, kind=UsageRecord.Kind.CALL, params=QueryDict("range=90")
    )
    sheet = openpyxl.load_workbook(export.xlsx()).active
    heading, *rows = sheet.iter_rows(values_only=True)
    call_id, lots = heading.index("Call ID"), heading.index("Credit lots drawn")
    cells = {row[call_id]: row[lots] for row in rows}
    old = old_lots_drawn(UsageRecord.objects.filter(organisation=drawn))
    assert {key: cells[key] or None for key in old} == old
