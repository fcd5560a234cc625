"""`make manage` beside `make run` (issue 17, item 5): `make run`'s embedded stack in a process
of its own (its own data directory and free ports), then `make manage` against it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from credits_portal.embedded import RUNNING_FILE, SHARED_ENV, free_port

ROOT = Path(__file__).resolve().parent.parent.parent
# What the test wrapper set for this process: `make run` must start services of its own.
WRAPPER_ENV = (*SHARED_ENV, "SECRET_KEY", "EMBEDDED_REDIS_PID", "DJANGO_SETTINGS_MODULE")

pytestmark = pytest.mark.slow


def _env(data: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in WRAPPER_ENV}
    env.update(EMBEDDED_DATA_DIR=str(data), PORT=str(port), DEMO_USAGE_RECORDS="100")
    return env


def _make(target: str, env: dict[str, str], *args: str, **kwargs) -> subprocess.Popen:
    """What `make <target>` runs (the Makefile's recipe, without reinstalling the venv)."""
    return subprocess.Popen(
        [sys.executable, "-m", "credits_portal.embedded", target, *args],
        env=env,
        cwd=ROOT,
        **kwargs,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"make run exited with {proc.returncode} while starting")
        if time.monotonic() > deadline:
            raise AssertionError(f"make run did not start within {timeout:.0f}s")
        time.sleep(0.5)


def test_make_manage_runs_a_command_beside_make_run(tmp_path):
    port = free_port()
    env = _env(tmp_path, port)
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115
    run = _make("run", env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(tmp_path / RUNNING_FILE, run, timeout=400)
        manage = _make(
            "manage",
            env,
            "--",
            "grant_funds",
            "contoso",
            "50",
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out, _ = manage.communicate(timeout=120)
        assert manage.returncode == 0, out.decode()
        assert b"50.00 USD" in out, out.decode()
        # The same database as the portal's: the ledger it serves holds the grant.
        verify = _make("manage", env, "--", "verify_ledger", stdout=subprocess.PIPE)
        assert verify.communicate(timeout=120)[0] and verify.returncode == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=90)
        log.close()
    assert not (tmp_path / RUNNING_FILE).exists(), "the file goes with the portal"
