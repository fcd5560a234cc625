"""Redis paused (SIGSTOP on the test's own Redis): the call path answers from the database."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from billing.models import LedgerEntry
from credits_portal import versions
from credits_portal.cache import OUTAGE
from credits_portal.celery import app
from licensing.services import Change, license_change
from tests.billing.recharge_helpers import turn_on
from tests.builders import account_of, grant
from usage.services import authorize

pytestmark = pytest.mark.django_db
US = "+14255550123"
UK = "+442071838750"


@contextmanager
def redis_paused() -> Iterator[None]:
    pid = os.environ.get("EMBEDDED_REDIS_PID")
    if not pid:
        pytest.skip(
            "needs the embedded Redis (REDIS_URL is set): run under credits_portal.embedded"
        )
    os.kill(int(pid), signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(int(pid), signal.SIGCONT)
        OUTAGE.answered()  # the next test starts with Redis asked at once


@pytest.fixture
def not_eager():
    """Tasks are published to the (paused) broker, as in production."""
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def authorize_call(platform, upn: str, to: str):
    return platform(
        "/calls/authorize", {"user": upn, "type": "outbound", "to": to, "from": "+14255550100"}
    )


def usage_record(record_id: str, upn: str, seconds: int = 600) -> dict:
    return {
        "id": record_id,
        "kind": "call",
        "type": "outbound",
        "user": upn,
        "from": "+14255550100",
        "to": UK,
        "started_at": "2026-11-02T09:15:00Z",
        "duration_seconds": seconds,
    }


def test_authorize_and_ingest_answer_within_a_second_with_redis_paused(
    platform, person, rated, not_eager, django_capture_on_commit_callbacks, caplog, client
):
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")  # plan minutes
    person("bo", "US", "PHONE_SYSTEM", "COMMS_CREDITS")  # credits, auto-recharge below 20.00
    person("cy", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    turn_on(rated)
    grant(rated, "20.10")
    # The process's first call loads what every later one reuses (modules, number metadata).
    _, warm_up = timed(lambda: authorize_call(platform, "cy@contoso.example", US))
    _, redis_up = timed(lambda: authorize_call(platform, "cy@contoso.example", US))
    versions._SEEN.clear()  # the version tokens are read again, from the paused Redis
    latencies = []
    with (
        time_machine.travel(datetime(2026, 11, 20, 12, 0, tzinfo=UTC), tick=True),
        caplog.at_level(logging.WARNING),
        redis_paused(),
    ):
        for _ in range(3):
            response, seconds = timed(lambda: authorize_call(platform, "ana@contoso.example", US))
            latencies.append(seconds)
            assert response.status_code == 200, response.content
            body = response.json()
            assert (body["allowed"], body["funded_by"], body["max_seconds"]) == (
                True,
                "plan_minutes",
                14400,
            )
        assert OUTAGE.error.startswith("TimeoutError"), "the cache saw the pause"
        response, seconds = timed(lambda: authorize_call(platform, "bo@contoso.example", UK))
        latencies.append(seconds)
        assert response.status_code == 200 and response.json()["funded_by"] == "credits"
        # 10 minutes at 0.0210 brings 20.10 below the 20.00 trigger: the recharge task and the
        # email are published after the commit, to the paused broker.
        with django_capture_on_commit_callbacks(execute=True):
            response, seconds = timed(
                lambda: platform(
                    "/usage/records", {"records": [usage_record("c-1", "bo@contoso.example")]}
                )
            )
        latencies.append(seconds)
        assert response.status_code == 200, response.content
        assert response.json()["results"][0]["status"] == "rated"
        health, seconds = timed(lambda: client.get("/healthz"))
        latencies.append(seconds)
    print(f"authorize with Redis up: first {warm_up:.3f} s, then {redis_up:.3f} s")
    print("with Redis paused (3 authorize, 1 authorize, ingest, healthz), s:", end=" ")
    print(", ".join(f"{s:.3f}" for s in latencies))
    assert max(latencies) < 1.5, latencies
    assert LedgerEntry.objects.get(reference="usage:c-1").amount == Decimal("-0.21")
    assert account_of(rated).balance == Decimal("19.89")
    assert health.status_code == 200
    assert health.json()["status"] == "degraded" and health.json()["redis"].startswith("error")
    assert health.json()["database"] == "ok"
    outage_lines = [r for r in caplog.records if "Redis is unreachable" in r.getMessage()]
    # Logged once when the outage started, then for each task that could not be queued.
    assert any("reads the database" in r.getMessage() for r in outage_lines)
    assert sum("reads the database" in r.getMessage() for r in outage_lines) == 1
    assert any("recharge_account" in r.getMessage() for r in outage_lines)


def test_a_license_change_made_while_redis_is_paused_reaches_authorization(
    platform, person, rated, django_capture_on_commit_callbacks
):
    ana = person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    assert authorize_call(platform, "ana@contoso.example", US).json()["allowed"]
    with redis_paused(), django_capture_on_commit_callbacks(execute=True):
        license_change(
            organisation=rated,
            changes=[Change(ana, remove={"CALLING_DOMESTIC"})],
            actor="t",
            source="t",
        )
        body = authorize_call(platform, "ana@contoso.example", US).json()
        assert (body["allowed"], body["reason"]) == (False, "no_credits_license")
    # Another process: it kept ana's licenses under the token read before the outage, and reads
    # that token again now (were it not renewed, it would authorize from its stale copy).
    versions._SEEN.clear()
    assert (rated.pk, "ana@contoso.example") in authorize._CALLERS
    body = authorize_call(platform, "ana@contoso.example", US).json()
    assert (body["allowed"], body["reason"]) == (False, "no_credits_license")


def test_healthz_is_ok_again_when_redis_answers(client):
    with redis_paused():
        assert client.get("/healthz").json()["status"] == "degraded"
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok", "redis": "ok"}
