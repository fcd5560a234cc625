"""The planner's credit spend kept in the cache between ingests: an ingest or a rebuild is seen on
the very next load, a kept spend costs no query, and a Redis outage computes it instead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
import redis
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.builders import grant
from usage.services.aggregates import aggregates_rebuild, credit_spend
from usage.services.ingest import usage_ingest
from usage.services.planner import daily_spend
from usage.services.spend_cache import spend_changed

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
WINDOWS = (7, 28, 90)


def _fresh(org) -> dict:
    """The daily spend computed from the aggregates, bypassing the cache."""
    spent = credit_spend(organisation=org, windows=WINDOWS, today=NOW.date())
    return {n: spent[n] / n for n in WINDOWS}


def _call(n: int, minutes: int = 10) -> dict:
    return {
        "id": f"c{n}",
        "kind": "call",
        "type": "outbound",
        "user": "ana@contoso.example",
        "to": "+441612345678",
        "started_at": (NOW - timedelta(hours=1 + n)).isoformat().replace("+00:00", "Z"),
        "duration_seconds": minutes * 60,
    }


@pytest.fixture
def spender(rated, person):
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(rated, "100")
    return rated


def _ingest(org, *records, capture) -> None:
    with capture(execute=True):
        assert {r.status for r in usage_ingest(organisation=org, records=list(records))} == {
            "rated"
        }


@time_machine.travel(NOW, tick=False)
def test_an_ingest_changes_the_planners_figures_at_once(
    spender, django_capture_on_commit_callbacks
):
    _ingest(spender, _call(0), capture=django_capture_on_commit_callbacks)
    before = daily_spend(spender)
    assert before[7] > 0
    with CaptureQueriesContext(connection) as queries:
        assert daily_spend(spender) == before
    assert not [q for q in queries if "usage_dailyusage" in q["sql"]], "kept: no query"
    _ingest(spender, _call(1), capture=django_capture_on_commit_callbacks)
    after = daily_spend(spender)
    assert after == _fresh(spender) and after[7] > before[7]


@time_machine.travel(NOW, tick=False)
def test_a_rebuild_changes_the_planners_figures(spender, django_capture_on_commit_callbacks):
    _ingest(spender, _call(0), capture=django_capture_on_commit_callbacks)
    before = daily_spend(spender)
    with connection.cursor() as cursor:  # aggregates gone wrong, as a rebuild would repair
        cursor.execute(
            "UPDATE usage_dailyusage SET charge = charge * 3 WHERE organisation_id = %s",
            [spender.pk],
        )
    assert daily_spend(spender) == before  # kept
    with django_capture_on_commit_callbacks(execute=True):
        aggregates_rebuild(organisation=spender)
    assert daily_spend(spender) == before  # the rebuild recomputed it from the records
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE usage_dailyusage SET charge = charge * 3 WHERE organisation_id = %s",
            [spender.pk],
        )
    with django_capture_on_commit_callbacks(execute=True):
        aggregates_rebuild(organisation=spender)
    assert daily_spend(spender) == before
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE usage_dailyusage SET charge = charge * 3 WHERE organisation_id = %s",
            [spender.pk],
        )
    spend_changed([spender.pk])
    assert daily_spend(spender) == _fresh(spender) != before  # a new version reads them
    with django_capture_on_commit_callbacks(execute=True):
        aggregates_rebuild(organisation=spender)


@time_machine.travel(NOW, tick=False)
def test_redis_down_computes_the_spend(spender, django_capture_on_commit_callbacks):
    _ingest(spender, _call(0), capture=django_capture_on_commit_callbacks)
    before = daily_spend(spender)
    with mock.patch("redis.Redis.execute_command", side_effect=redis.ConnectionError("refused")):
        _ingest(spender, _call(1), capture=django_capture_on_commit_callbacks)
        during = daily_spend(spender)
    assert during == _fresh(spender) and during[7] > before[7]
    assert isinstance(during[7], Decimal)
