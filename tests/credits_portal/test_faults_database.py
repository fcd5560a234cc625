"""PostgreSQL restarts and hangs (finding 6 of issue 14), and runserver's connections (finding 9):
a dead persistent connection costs no error, a hung server no hung request."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.request import urlopen

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import OperationalError, connection, connections
from django.test import RequestFactory

from credits_portal.embedded import free_port, wait_for_port
from tests.builders import make_api_key, make_org
from tests.processes import ROOT, database_url_for_tests


def serve(path: str, **headers: str) -> tuple[int, bytes]:
    """One request through Django's WSGI handler, as a gunicorn worker thread serves it (the
    test client skips the connection checks that start and end each real request)."""
    environ = RequestFactory()._base_environ(PATH_INFO=path, REQUEST_METHOD="GET", **headers)
    status: list[str] = []
    result = WSGIHandler()(environ, lambda s, _h: status.append(s))
    try:
        body = b"".join(result)
    finally:
        result.close()  # request_finished: the connection is kept (CONN_MAX_AGE) or closed
    return int(status[0].split()[0]), body


def terminate_backend(pid: int) -> None:
    """What a PostgreSQL restart does to each connection: its server process goes away."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_the_next_request_on_a_terminated_connection_succeeds():
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True
    assert connection.settings_dict["CONN_MAX_AGE"] > 0
    key = make_api_key(make_org("contoso"), "admin")
    assert serve("/healthz")[0] == 200
    for path, headers in [
        ("/api/v1/users", {"HTTP_AUTHORIZATION": f"Bearer {key}"}),
        ("/healthz", {}),
    ]:
        kept = connection.connection
        assert kept is not None, "the connection persists between requests"
        terminate_backend(kept.get_backend_pid())
        status, body = serve(path, **headers)
        assert status == 200, body[:500]
        assert connection.connection is not kept  # checked, found dead, replaced


@pytest.mark.django_db
def test_statements_and_connections_have_time_limits():
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "30s"
    assert connection.settings_dict["OPTIONS"]["connect_timeout"] == 5


def test_a_statement_longer_than_the_limit_is_cancelled():
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.db import connection\n"
            "with connection.cursor() as c: c.execute('SELECT pg_sleep(30)')",
        ],
        env={**os.environ, "DATABASE_STATEMENT_TIMEOUT": "1"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=25,
    )
    assert result.returncode != 0
    assert "canceling statement due to statement timeout" in result.stderr
    assert time.monotonic() - started < 20


@pytest.mark.django_db
def test_a_server_that_never_answers_fails_the_connection_within_the_connect_timeout():
    # A port that accepts TCP connections (the kernel does) but never says a word: a hung server.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        settings_dict = {
            **connection.settings_dict,
            "HOST": "127.0.0.1",
            "PORT": str(hung.getsockname()[1]),
        }
        wrapper = type(connections["default"])(settings_dict, alias="hung")
        outcome: list[BaseException] = []

        def connect() -> None:
            try:
                wrapper.ensure_connection()
            except OperationalError as exc:
                outcome.append(exc)

        started = time.monotonic()
        thread = threading.Thread(target=connect, daemon=True)
        thread.start()
        thread.join(timeout=15)
        elapsed = time.monotonic() - started
    assert not thread.is_alive(), "the connection attempt hangs with the server"
    assert outcome and "timeout" in str(outcome[0]).lower()
    assert 4 <= elapsed < 10, elapsed


@pytest.mark.django_db(transaction=True)
def test_runserver_keeps_no_connection_after_its_requests():
    port = free_port()
    app_name = f"runserver-test-{port}"
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        env={**os.environ, "DATABASE_URL": database_url_for_tests(), "PGAPPNAME": app_name},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc, "runserver")

        def get(_i: int) -> int:
            with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
                return response.status

        with ThreadPoolExecutor(20) as pool:
            assert set(pool.map(get, range(40))) == {200}
        time.sleep(0.5)  # the last request threads finish closing
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [app_name]
            )
            assert cursor.fetchone()[0] == 0
    finally:
        proc.terminate()
        proc.wait(timeout=15)
