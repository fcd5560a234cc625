"""Throughput of the platform's two endpoints against the production server (gunicorn).

    .venv/bin/python -m credits_portal.embedded test -- .venv/bin/python bench/platform_api.py

Needs `wrk` (Debian: apt-get install wrk). Prints, in one run:
- authorize requests per second and p50/p99 latency at 16 concurrent connections, beside the same
  server's /healthz as the framework's ceiling: a credit-funded call (it reserves funds under the
  account's row lock, every request on the same organisation) and a plan-funded one;
- usage ingest records per second in batches of 1,000, beside a raw PostgreSQL COPY of the same
  rows as the physical ceiling.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "credits_portal.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from billing.services.ledger import account_for  # noqa: E402
from billing.services.purchases import funds_grant  # noqa: E402
from credits_portal import services  # noqa: E402
from credits_portal.db import copy_rows  # noqa: E402
from credits_portal.embedded import free_port, wait_for_port  # noqa: E402
from credits_portal.models import Organisation  # noqa: E402
from licensing.models import DirectoryUser  # noqa: E402
from licensing.services import Change, license_change, seats_add  # noqa: E402
from usage.models import UsageRecord  # noqa: E402
from usage.services.rates import rate_card_load  # noqa: E402

SLUG = "bench-platform"
USERS = 200
PLAN_USER = "plan@bench.example"
DURATION = "10s"
ROUND, ROUNDS = "5s", 3


def setup() -> tuple[Organisation, str]:
    call_command("migrate", verbosity=0)
    organisation = Organisation.objects.filter(slug=SLUG).first() or services.organisation_create(
        slug=SLUG, name="Bench Platform"
    )
    rate_card_load(currency="USD", text=(ROOT / "usage/data/demo_rate_card.csv").read_text())
    if not DirectoryUser.objects.filter(organisation=organisation).exists():
        for sku in ("PHONE_SYSTEM", "COMMS_CREDITS", "AUDIO_CONF"):
            seats_add(organisation=organisation, sku=sku, count=USERS)
        users = [
            DirectoryUser.objects.create(
                organisation=organisation,
                upn=f"u{n}@bench.example",
                display_name=f"U{n}",
                usage_location="US",
            )
            for n in range(USERS)
        ]
        license_change(
            organisation=organisation,
            changes=[Change(u, {"PHONE_SYSTEM", "COMMS_CREDITS", "AUDIO_CONF"}) for u in users],
            actor="bench",
            source="bench",
        )
    if not DirectoryUser.objects.filter(organisation=organisation, upn=PLAN_USER).exists():
        # A domestic calling plan: its calls are funded by the pool, nothing reserved.
        skus = {"PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS"}
        with transaction.atomic():
            for sku in skus:
                seats_add(organisation=organisation, sku=sku, count=1)
            user = DirectoryUser.objects.create(
                organisation=organisation, upn=PLAN_USER, display_name="Plan", usage_location="US"
            )
            license_change(
                organisation=organisation, changes=[Change(user, skus)], actor="b", source="b"
            )
    funds_grant(
        account=account_for(organisation),
        amount=Decimal("1000000"),
        reference=f"bench-{time.time()}",
    )
    _key, plain = services.api_key_create(organisation=organisation, name="bench", scope="platform")
    return organisation, plain


def wrk(
    url: str, script: str | None = None, duration: str = DURATION
) -> tuple[float, float, float]:
    args = ["wrk", "-t2", "-c16", f"-d{duration}", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        if script:
            lua.write(script)
    if script:
        args += ["-s", lua.name]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def latency(percent: str) -> float:
        value, unit = re.search(rf"\s{percent}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    return rps, latency("50"), latency("99")


def authorize_script(key: str, user: str, to: str) -> str:
    body = json.dumps({"user": user, "type": "outbound", "to": to})
    return (
        'wrk.method = "POST"\n'
        f"wrk.body = '{body}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
    )


def records(start: int, count: int) -> list[dict]:
    # A day ago: ingest takes records of the last USAGE_MAX_AGE_DAYS only.
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    return [
        {
            "id": f"bench-{start + n}",
            "kind": "call",
            "type": "outbound",
            "user": f"u{n % USERS}@bench.example",
            "from": "+14255550100",
            "to": "+442071838750",
            "started_at": (moment + timedelta(seconds=n)).isoformat().replace("+00:00", "Z"),
            "duration_seconds": 30 + n % 600,
        }
        for n in range(count)
    ]


def ingest_seconds(base: str, key: str, body: bytes) -> float:
    """One batch posted to the API (its body built beforehand): the seconds it took."""
    request = urllib.request.Request(  # noqa: S310  (our own local server)
        f"{base}/api/v1/usage/records",
        data=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request) as response:  # noqa: S310  (our own local server)
        results = json.load(response)["results"]
    elapsed = time.perf_counter() - started
    assert all(r["status"] == "rated" for r in results), results[:3]
    return elapsed


COPY_FIELDS = (
    "organisation_id", "record_id", "kind", "type", "user_id", "from_number", "to_number",
    "to_country", "from_country", "domestic", "started_at", "duration_seconds", "units",
    "plan_minutes", "pool_category", "rate_per_unit", "rate_prefix", "charge", "currency",
    "funded_by", "capability", "authorization_code", "conference_id", "created_at",
)  # fmt: skip


def copy_seconds(organisation: Organisation, users: dict[str, int], batch: list[dict]) -> float:
    """The same rows, already rated, written with COPY into the usage records table itself
    (its indexes and constraints) and committed: the physical ceiling."""
    rows = [
        (organisation.pk, f"copy-{r['id']}", "call", "outbound", users[r["user"]], r["from"],
         r["to"], "GB", "US", False, r["started_at"], r["duration_seconds"], 1, 0,
         "international", Decimal("0.0210"), "4420", Decimal("0.02"), "USD", "credits",
         "COMMS_CREDITS", "", "", datetime.now(UTC))
        for r in batch
    ]  # fmt: skip
    started = time.perf_counter()
    with transaction.atomic():
        copy_rows(UsageRecord, COPY_FIELDS, rows)
    return time.perf_counter() - started


def ingest_and_copy(base: str, key: str, organisation: Organisation, batches: int = 10):
    """Records a second through the API and through COPY, batches of 1,000 in turn (so that
    both see the machine as it is at that moment), the median batch of each. The COPY rows
    are deleted afterwards."""
    users = dict(DirectoryUser.objects.filter(organisation=organisation).values_list("upn", "pk"))
    offset = int(time.time() * 1000)
    ingest, copy = [], []
    for n in range(batches):
        batch = records(offset + n * 1000, 1000)
        body = json.dumps({"records": batch}).encode()
        ingest.append(1000 / ingest_seconds(base, key, body))
        copy.append(1000 / copy_seconds(organisation, users, batch))
    UsageRecord.objects.filter(organisation=organisation, record_id__startswith="copy-").delete()
    return statistics.median(ingest), statistics.median(copy)


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    organisation, key = setup()
    port = free_port()
    env = {
        **os.environ,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "credits_portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "4",
            "--preload",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_for_port(port, server, "gunicorn")
        base = f"http://127.0.0.1:{port}"
        credits = authorize_script(key, "u1@bench.example", "+442071838750")
        plan = authorize_script(key, PLAN_USER, "+14255550123")
        # Warm every worker (first-use caches, lazy imports) before measuring anything.
        wrk(f"{base}/healthz", duration="2s")
        wrk(f"{base}/api/v1/calls/authorize", credits, duration="2s")
        warm = -int(time.time() * 1000)  # ids of their own, new on every run
        for n in range(8):
            ingest_seconds(base, key, json.dumps({"records": records(warm - n * 10, 10)}).encode())
        ingest, copy = ingest_and_copy(base, key, organisation)
        # Rounds in turn, medians of each: this shared machine's speed drifts within a run.
        rounds = [
            (
                wrk(f"{base}/healthz", duration=ROUND),
                wrk(f"{base}/api/v1/calls/authorize", credits, duration=ROUND),
                wrk(f"{base}/api/v1/calls/authorize", plan, duration=ROUND),
            )
            for _ in range(ROUNDS)
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    health, authorize, pooled = (
        tuple(statistics.median(r[i][k] for r in rounds) for k in range(3)) for i in range(3)
    )
    print(
        f"Platform API on gunicorn (4 workers), 16 connections, this machine "
        f"(medians of {ROUNDS} rounds of {ROUND}):"
    )
    print(
        f"  /healthz             {health[0]:8.0f} req/s  p50 {health[1]:6.1f} ms  p99 {health[2]:6.1f} ms"
    )
    for name, (rps, p50, p99) in (
        ("authorize, credits ", authorize),
        ("authorize, plan    ", pooled),
    ):
        print(
            f"  {name}   {rps:8.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
            f"  ({rps / health[0]:.0%} of /healthz)"
        )
    print(f"  usage ingest         {ingest:8.0f} records/s in batches of 1,000 (median batch)")
    print(
        f"  PostgreSQL COPY      {copy:8.0f} rows/s  into the same table, committed per 1,000"
        f"  (ingest is {ingest / copy:.0%} of COPY)"
    )


if __name__ == "__main__":
    main()
