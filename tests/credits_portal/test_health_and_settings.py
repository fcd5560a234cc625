from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_healthz_reports_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.mark.django_db
def test_healthz_is_degraded_but_200_when_redis_is_unreachable(client, settings):
    # The portal serves without Redis (the call path reads the database): a load balancer
    # keeps it in rotation. tests/usage/test_faults_redis.py pauses the real Redis.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["redis"].startswith("error") and response.json()["database"] == "ok"


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECURE_SSL_REDIRECT", "ALLOWED_HOSTS"}
    }
    if "SECRET_KEY" in env:
        base.pop("SECRET_KEY_FILE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_variables():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY="a-long-random-production-secret-" + "x9" * 30,
        ALLOWED_HOSTS="credits.example.com",
        SECURE_HSTS_PRELOAD="1",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_defaults_are_secure():
    result = _manage(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.DEBUG, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, "
        "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.X_FRAME_OPTIONS)",
        SECRET_KEY="a-long-random-production-secret-" + "x9" * 30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == [
        "False",
        "True",
        "True",
        "True",
        "Lax",
        "True",
        "31536000",
        "DENY",
    ]


def test_without_a_secret_key_start_up_stops():
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "SECRET_KEY_FILE"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_a_bad_boolean_names_the_variable():
    result = _manage("check", DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be one of" in result.stderr


def test_a_bad_retry_hours_list_names_the_variable():
    result = _manage("check", RECHARGE_RETRY_HOURS="1,six,24")
    assert result.returncode != 0
    assert "RECHARGE_RETRY_HOURS must be whole numbers" in result.stderr


def test_retry_hours_are_read_as_whole_numbers(monkeypatch):
    from credits_portal.env import env_int_list

    monkeypatch.setenv("RECHARGE_RETRY_HOURS", " 2, 12 ")
    assert env_int_list("RECHARGE_RETRY_HOURS", [1]) == [2, 12]
    monkeypatch.delenv("RECHARGE_RETRY_HOURS")
    assert env_int_list("RECHARGE_RETRY_HOURS", [1, 6, 24]) == [1, 6, 24]


def test_static_files_are_served_by_whitenoise():
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings.MIDDLEWARE


def test_a_replica_is_a_second_database_with_the_router_only_when_configured():
    """DATABASE_REPLICA_URL (issue 16, item 5): a `replica` alias with the primary's timeouts and
    the router; without it, one database and no router."""
    show = (
        "from django.conf import settings as s; r = s.DATABASES.get('replica', {}); "
        "print(sorted(s.DATABASES), s.DATABASE_ROUTERS, r.get('HOST'), r.get('NAME'), "
        "r.get('OPTIONS', {}).get('connect_timeout'), r.get('TEST', {}).get('MIRROR'))"
    )
    key = "a-long-random-production-secret-" + "x9" * 30
    result = _manage(
        "shell",
        "-c",
        show,
        SECRET_KEY=key,
        DATABASE_REPLICA_URL="postgres://reader:pw@replica.internal:5432/credits",
        DATABASE_CONNECT_TIMEOUT="7",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "['default', 'replica'] ['credits_portal.db_router.ReplicaRouter'] "
        "replica.internal credits 7 None"
    )
    alone = _manage("shell", "-c", show, SECRET_KEY=key)
    assert alone.returncode == 0, alone.stderr
    assert alone.stdout.splitlines()[-1] == "['default'] [] None None None None"
    bad = _manage("check", SECRET_KEY=key, DATABASE_REPLICA_URL="mysql://reader@replica/credits")
    assert bad.returncode != 0
    assert "DATABASE_REPLICA_URL must point at PostgreSQL" in bad.stderr
