"""`make run`'s supervisor (finding 9 of issue 14): a worker or beat that dies is started again,
with real processes; only a vital process stopping stops the rest."""

from __future__ import annotations

import sys
import time

import pytest

from credits_portal import embedded
from credits_portal.embedded import Services

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
DIES = [sys.executable, "-c", "import sys; sys.exit(3)"]


@pytest.fixture
def services(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded, "RESTART_DELAYS", [0.1, 0.3, 0.6])
    services = Services(tmp_path, persistent=False)
    yield services
    services.stop()


def supervise_for(services: Services, seconds: float) -> str | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (stopped := services.supervise()) is not None:
            return stopped
        time.sleep(0.02)
    return None


def test_a_dying_worker_is_restarted_while_the_web_server_keeps_running(services, capsys):
    web = services.spawn("web", SLEEPER)
    first = services.spawn("worker", DIES, restart=True)
    assert supervise_for(services, 2.5) is None
    worker = dict(services.procs)["worker"]
    assert worker is not first and services.restartable["worker"].deaths >= 3
    assert web.poll() is None and dict(services.procs)["web"] is web
    err = capsys.readouterr().err
    assert "worker exited with status 3; restarting it in 0.1s" in err
    assert "restarting it in 0.3s" in err and "worker restarted" in err  # the delay grows


def test_a_worker_that_ran_long_starts_again_at_the_first_delay(services, monkeypatch, capsys):
    monkeypatch.setattr(embedded, "STEADY_SECONDS", 0.5)
    services.spawn("beat", [sys.executable, "-c", "import time; time.sleep(0.8)"], restart=True)
    services.restartable["beat"].deaths = 2
    assert supervise_for(services, 1.2) is None
    assert "beat exited with status 0; restarting it in 0.1s" in capsys.readouterr().err


def test_a_vital_process_stopping_is_reported(services):
    services.spawn("worker", SLEEPER, restart=True)
    web = services.spawn("web", SLEEPER)
    assert services.supervise() is None
    web.terminate()
    web.wait()
    assert supervise_for(services, 2) == "web"


def test_only_the_replica_tests_get_a_replica():
    """`test --replica` names `<database>_replica` on the same server; any other run drops a
    DATABASE_REPLICA_URL from the environment (issue 16, item 5)."""
    primary = "postgres://postgres@%2Ftmp%2Fpg/credits_portal"
    env = {"DATABASE_URL": primary}
    embedded.replica_env(env, replica=True)
    assert env["DATABASE_REPLICA_URL"] == "postgres://postgres@%2Ftmp%2Fpg/credits_portal_replica"
    env = {"DATABASE_URL": primary, "DATABASE_REPLICA_URL": "postgres://r/x"}
    embedded.replica_env(env, replica=True)
    assert env["DATABASE_REPLICA_URL"] == "postgres://r/x"
    embedded.replica_env(env, replica=False)
    assert "DATABASE_REPLICA_URL" not in env
