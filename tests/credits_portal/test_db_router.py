"""Reading at scale (issue 16, item 5): the reports read from a replica, every write goes to the
primary. Two real PostgreSQL databases: `replica` is a separate database on the same server, not
a test mirror, filled from the primary by `replicate` (as streaming replication would) and then
made read-only (as a hot standby is), with rows of its own so that a page can only show them if
it read there.

These tests need DATABASE_REPLICA_URL: `make test` runs this file in a pytest of its own with it
set (`python -m credits_portal.embedded test --replica -- pytest tests/credits_portal/test_db_router.py`),
so that the rest of the suite does not create and migrate a second test database.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.db.backends.signals import connection_created
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import LedgerEntry, RechargeAttempt
from credits_portal.db_router import REPLICA, replica_reads
from credits_portal.models import Membership, User
from credits_portal.permissions import Role
from tests.billing.recharge_helpers import spend, turn_on
from tests.builders import (
    account_of,
    demo_rate_card,
    grant,
    licensed_user,
    make_api_key,
    make_member,
    seats_of_every_sku,
)
from usage.models import ExportJob, ReportPreference, UsageRecord
from usage.services.ingest import usage_ingest

if REPLICA not in settings.DATABASES:
    pytest.skip(
        "needs DATABASE_REPLICA_URL: `make test` runs this file on its own with a replica",
        allow_module_level=True,
    )

# Committed transactions, as the replica can only see what the primary committed.
both_databases = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])

WRITES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "COPY", "CREATE", "ALTER", "DROP", "LOCK")


def _iso(days_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _call(record_id: str, days_ago: int, seconds: int, to: str = "+12015550123") -> dict:
    return {
        "id": record_id,
        "kind": "call",
        "type": "outbound",
        "user": "ana@contoso.example",
        "from": "+14255550100",
        "to": to,
        "started_at": _iso(days_ago),
        "duration_seconds": seconds,
    }


def _read_only(sender, connection, **kwargs) -> None:
    if connection.alias == REPLICA:
        with connection.cursor() as cursor:
            cursor.execute("SET default_transaction_read_only = on")


@pytest.fixture
def replicate():
    """`replicate(*sql)`: the replica becomes a copy of the primary (every table, in one
    transaction: Django's foreign keys are checked at commit), then runs `sql` of its own, then
    refuses every write from then on, as a hot standby does."""

    def copy(*extra: str) -> None:
        primary, replica = connections[DEFAULT_DB_ALIAS], connections[REPLICA]
        tables = primary.introspection.django_table_names(only_existing=True)
        quoted = ", ".join(primary.ops.quote_name(t) for t in tables)
        with transaction.atomic(using=REPLICA), replica.cursor() as into:
            into.execute(f"TRUNCATE {quoted}")
            for table in tables:
                buffer = io.StringIO()
                with primary.cursor() as out:
                    # Named columns: the replica's tables come from the models, in their order.
                    found = primary.introspection.get_table_description(out, table)
                    columns = ", ".join(primary.ops.quote_name(c.name) for c in found)
                    target = f"{primary.ops.quote_name(table)} ({columns})"
                    out.copy_expert(f"COPY {target} TO STDOUT", buffer)
                buffer.seek(0)
                into.copy_expert(f"COPY {target} FROM STDIN", buffer)
            for sql in extra:
                into.execute(sql)
        connection_created.connect(_read_only)
        replica.close()  # the next query opens a read-only connection

    yield copy
    connection_created.disconnect(_read_only)
    connections[REPLICA].close()  # writable again for the flush after the test


@pytest.fixture
def contoso(org, members):
    demo_rate_card()
    seats_of_every_sku(org, 50)
    licensed_user(org, "ana@contoso.example", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    licensed_user(org, "bo@contoso.example", "GB", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(org, "50")
    rated = usage_ingest(
        organisation=org,
        records=[_call("dom-1", 1, 300), _call("dom-2", 2, 120), _call("dom-3", 3, 60)],
    )
    assert {r.status for r in rated} == {"rated"}, [r.as_dict() for r in rated]
    return org


def _writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(WRITES)]


def _tables(queries) -> str:
    return " ".join(q["sql"] for q in queries)


@both_databases
def test_the_report_reads_its_records_from_the_replica(contoso, client_as, replicate):
    replicate(
        "UPDATE usage_usagerecord SET record_id = 'seen-on-the-replica' WHERE record_id = 'dom-2'"
    )
    client = client_as(Role.REPORTS)
    with (
        CaptureQueriesContext(connections[REPLICA]) as on_replica,
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_primary,
    ):
        page = client.get(reverse("usage:report"))
    assert page.status_code == 200
    shown = {r.record_id for r in page.context["records"]}
    assert shown == {"dom-1", "seen-on-the-replica", "dom-3"}
    assert page.context["totals"]["count"] == 3
    assert "usage_usagerecord" in _tables(on_replica) and not _writes(on_replica)
    # The session, the user, the memberships and the admin's preferences: from the primary.
    primary_sql = _tables(on_primary)
    assert "usage_usagerecord" not in primary_sql and "ledger" not in primary_sql
    assert "django_session" in primary_sql and "usage_reportpreference" in primary_sql


@both_databases
def test_the_record_page_and_a_streamed_csv_export_read_from_the_replica(
    contoso, client_as, replicate
):
    replicate(
        "UPDATE usage_usagerecord SET record_id = 'seen-on-the-replica' WHERE record_id = 'dom-2'"
    )
    client = client_as(Role.REPORTS)
    assert client.get(reverse("usage:record", args=["seen-on-the-replica"])).status_code == 200
    assert client.get(reverse("usage:record", args=["dom-2"])).status_code == 404
    # The CSV's rows are read while the response streams, after the view has returned.
    with CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_primary:
        response = client.get(reverse("usage:export_csv"), {"range": "90"})
        body = b"".join(response.streaming_content).decode()
    assert "seen-on-the-replica" in body and "dom-2" not in body
    assert "usage_usagerecord" not in _tables(on_primary)
    xlsx = client.get(reverse("usage:export_xlsx"), {"range": "90"})
    book = openpyxl.load_workbook(io.BytesIO(b"".join(xlsx.streaming_content)))
    ids = {cell.value for row in book.active.iter_rows() for cell in row}
    assert "seen-on-the-replica" in ids and "dom-2" not in ids


@both_databases
def test_a_large_export_job_reads_the_replica_and_writes_its_progress_to_the_primary(
    contoso, client_as, replicate, settings, tmp_path
):
    settings.EXPORT_SYNC_LIMIT = 1
    settings.EXPORTS_DIR = tmp_path
    replicate(
        "UPDATE usage_usagerecord SET record_id = 'seen-on-the-replica' WHERE record_id = 'dom-2'"
    )
    client = client_as(Role.REPORTS)
    with CaptureQueriesContext(connections[REPLICA]) as on_replica:
        # Eager Celery: the job runs once the request has created it, in the request.
        response = client.get(reverse("usage:export_csv"), {"range": "90"})
        assert response.status_code == 302
        page = client.get(response["Location"])  # the job just created: found on the primary
    assert b"Ready." in page.content
    job = ExportJob.objects.get()
    assert job.status == ExportJob.Status.DONE and job.rows_done == job.rows_total == 3
    assert not ExportJob.objects.using(REPLICA).exists()
    assert not _writes(on_replica) and "usage_exportjob" not in _tables(on_replica)
    download = client.get(response["Location"] + "download")
    body = b"".join(download.streaming_content).decode()
    assert "seen-on-the-replica" in body and "dom-2" not in body


@both_databases
def test_every_write_goes_to_the_primary(contoso, client_as, client, replicate):
    """A POST, an ingest, a recharge (with its ledger entries and emails queued) while the
    replica refuses writes: each lands on the primary, and the replica saw none."""
    key = make_api_key(contoso, "platform")
    turn_on(contoso, trigger="45.00", amount="50.00")
    replicate()
    reader = client_as(Role.REPORTS)
    with CaptureQueriesContext(connections[REPLICA]) as on_replica:
        saved = reader.post(
            reverse("usage:preferences"),
            {
                "call_columns": ["time", "charge"],
                "sms_columns": ["time"],
                "time_zone": "Asia/Seoul",
            },
        )
        assert saved.status_code == 302
        # Read-your-writes: the redirect shows the columns just saved, though the replica lags.
        after = reader.get(saved["Location"])
        assert [c[0] for c in after.context["columns"]] == ["time", "charge"]
        ingested = client.post(
            "/api/v1/usage/records",
            {"records": [_call("dom-4", 0, 600)]},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert ingested.status_code in (200, 201), ingested.content
        spend(contoso, "10.00", "call-x")  # under the trigger: a recharge, run by eager Celery
    assert RechargeAttempt.objects.get(account=account_of(contoso)).status == "succeeded"
    assert UsageRecord.objects.filter(record_id="dom-4").exists()
    assert ReportPreference.objects.get().time_zone == "Asia/Seoul"
    assert not _writes(on_replica), _writes(on_replica)
    assert not UsageRecord.objects.using(REPLICA).filter(record_id="dom-4").exists()
    assert not ReportPreference.objects.using(REPLICA).exists()
    assert account_of(contoso).balance == Decimal("95.00")  # 40 + 50 + what 40 lacks of 45


@both_databases
def test_signing_in_and_permissions_do_not_wait_for_the_replica(contoso, replicate):
    replicate()
    # Created after the replica's copy: a lagging replica knows neither the user nor the role.
    newcomer = make_member(contoso, Role.REPORTS, "newcomer@contoso.example")
    assert not User.objects.using(REPLICA).filter(pk=newcomer.pk).exists()
    client = Client()
    client.force_login(newcomer)
    assert client.get(reverse("usage:report")).status_code == 200
    # A role taken away is gone at once, wherever the reports read.
    Membership.objects.filter(user=newcomer).update(role=Role.LICENSE)
    assert client.get(reverse("usage:report")).status_code == 403


@both_databases
def test_other_pages_and_the_api_read_the_primary(contoso, client_as, client, replicate):
    key = make_api_key(contoso, "admin")
    replicate()
    portal = client_as(Role.GLOBAL)
    with CaptureQueriesContext(connections[REPLICA]) as on_replica:
        assert portal.get(reverse("home")).status_code == 200
        assert portal.get(reverse("billing:credits")).status_code == 200
        listed = client.get("/api/v1/usage/records", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert listed.status_code == 200, listed.content
    assert not on_replica.captured_queries


@both_databases
def test_the_router_keeps_reads_on_the_primary_in_a_transaction_or_after_a_write():
    read = router.db_for_read
    assert read(UsageRecord) == DEFAULT_DB_ALIAS, "outside a replica scope"
    with replica_reads():
        assert read(UsageRecord) == REPLICA
        assert read(LedgerEntry) == REPLICA
        for model in (User, Membership, ReportPreference, ExportJob):
            assert read(model) == DEFAULT_DB_ALIAS, model
        with transaction.atomic():
            assert read(UsageRecord) == DEFAULT_DB_ALIAS
        ExportJob.objects.filter(pk=0).update(rows_done=1)  # a job's progress pins nothing
        assert read(UsageRecord) == REPLICA
        UsageRecord.objects.filter(pk=0).update(charge=0)  # a write the replica would lag
        assert read(UsageRecord) == DEFAULT_DB_ALIAS
        assert read(LedgerEntry) == DEFAULT_DB_ALIAS
        assert router.db_for_write(UsageRecord) == DEFAULT_DB_ALIAS
    with replica_reads():
        assert read(UsageRecord) == REPLICA, "a new scope starts clean"
    assert read(UsageRecord) == DEFAULT_DB_ALIAS


def test_migrations_run_only_on_the_primary(monkeypatch):
    replica = connections[REPLICA]
    monkeypatch.setitem(replica.settings_dict, "NAME", "test_credits_portal_replica")
    assert router.allow_migrate(REPLICA, "usage", model_name="usagerecord")  # the test's copy
    monkeypatch.setitem(replica.settings_dict, "NAME", "credits_portal_replica")
    assert not router.allow_migrate(REPLICA, "usage", model_name="usagerecord")
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "usage", model_name="usagerecord")
