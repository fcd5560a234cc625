"""Throughput of the platform's two endpoints against the production server (gunicorn).

    .venv/bin/python -m credits_portal.embedded test -- .venv/bin/python bench/platform_api.py

Needs `wrk` (Debian: apt-get install wrk). Prints, in one run:
- authorize requests per second and p50/p99 latency at 16 concurrent connections, beside the same
  server's /healthz as the framework's ceiling: a credit-funded call (it reserves funds under the
  account's row lock, every request on the same organisation) and a plan-funded one;
- usage ingest records per second in batches of 1,000, beside a raw PostgreSQL COPY of the same
  rows as the physical ceiling. The records look like real traffic: 2,000 users in eleven
  countries (a third with a domestic calling plan, a tenth with an international one), outbound
  calls to domestic and international destinations in thirty countries, conference dial-outs,
  toll-free dial-ins and SMS, every record with a number of its own (nothing is parsed from a
  warm cache), the users' own lines beside them.
"""

from __future__ import annotations

import json
import os
import random
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

import phonenumbers

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

SLUG = "bench-traffic"  # 2,000 users (an older "bench-platform" had 200)
USERS = 2_000
# The users' countries (usage locations), by weight, and where their calls go.
LOCATIONS = {"US": 40, "GB": 12, "DE": 10, "CA": 8, "FR": 6, "JP": 5, "IN": 5, "AU": 4, "BR": 4,
             "MX": 3, "ES": 3}  # fmt: skip
ABROAD = ["US", "GB", "DE", "CA", "FR", "JP", "IN", "AU", "BR", "MX", "ES", "IT", "NL", "SE",
          "PL", "KR", "CN", "SG", "ZA", "NG", "AE", "PR", "JM", "IE", "CH", "AT", "BE", "PT",
          "NZ", "AR"]  # fmt: skip
PLANS = {"PHONE_SYSTEM", "COMMS_CREDITS", "AUDIO_CONF"}
PLAN_USER = "plan@bench.example"
DURATION = "10s"
ROUND, ROUNDS = "5s", 3


def setup() -> tuple[Organisation, str]:
    call_command("migrate", verbosity=0)
    organisation = Organisation.objects.filter(slug=SLUG).first() or services.organisation_create(
        slug=SLUG, name="Bench Traffic"
    )
    rate_card_load(currency="USD", text=(ROOT / "usage/data/demo_rate_card.csv").read_text())
    users_made = DirectoryUser.objects.filter(organisation=organisation, upn__startswith="u")
    if not users_made.exists():
        locations = random.Random(1).choices(  # noqa: S311  (test data)
            list(LOCATIONS), list(LOCATIONS.values()), k=USERS
        )
        users = DirectoryUser.objects.bulk_create(  # licensed below, users_made thereafter
            DirectoryUser(
                organisation=organisation,
                upn=f"u{n}@bench.example",
                display_name=f"U{n}",
                usage_location=locations[n],
            )
            for n in range(USERS)
        )
        changes = [Change(u, PLANS | extra_plan(n)) for n, u in enumerate(users)]
        for sku in {sku for change in changes for sku in change.assign}:
            count = sum(sku in change.assign for change in changes)
            seats_add(organisation=organisation, sku=sku, count=count)
        for start in range(0, USERS, 500):
            license_change(
                organisation=organisation,
                changes=changes[start : start + 500],
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


def extra_plan(n: int) -> set[str]:
    """A third of the users have a domestic calling plan, a tenth an international one."""
    return {"CALLING_DOMESTIC"} if n % 3 == 0 else {"CALLING_INTL"} if n % 10 == 1 else set()


class Numbers:
    """Valid E.164 numbers of a country, each new (never one given before in this run): the
    national number drawn at random behind the first digit of libphonenumber's example number,
    kept when libphonenumber finds it valid."""

    KINDS = {
        "mobile": phonenumbers.PhoneNumberType.MOBILE,
        "fixed": phonenumbers.PhoneNumberType.FIXED_LINE,
        "toll_free": phonenumbers.PhoneNumberType.TOLL_FREE,
    }

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)  # noqa: S311  (test data)
        self.given: set[str] = set()

    def new(self, country: str, kind: str = "fixed") -> str:
        example = phonenumbers.example_number_for_type(country, self.KINDS[kind])
        example = example or phonenumbers.example_number(country)
        code = str(example.country_code)
        national = phonenumbers.national_significant_number(example)
        for tries in range(1000):
            # Free digits behind the first; after 200 misses only the last five vary.
            kept = 1 if tries < 200 else max(len(national) - 5, 1)
            digits = "".join(self.random.choice("0123456789") for _ in national[kept:])
            number = f"+{code}{national[:kept]}{digits}"
            if number in self.given:
                continue
            parsed = phonenumbers.parse(number, None)
            if phonenumbers.is_valid_number(parsed) and (
                phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == number
            ):
                self.given.add(number)
                return number
        raise RuntimeError(f"no new {kind} number for {country}")


class Traffic:
    """Records as the platform sends them: many users, a new number in every record."""

    BRIDGES = ["+14255550100", "+442071838750"]  # conference dial-outs come from these
    TOLL_FREE = ["+18005550199", "+448000161234"]  # the organisation's toll-free numbers

    def __init__(self, organisation: Organisation) -> None:
        self.organisation = organisation
        self.numbers = Numbers(seed=int(time.time()))
        self.users = list(
            DirectoryUser.objects.filter(organisation=organisation, upn__startswith="u")
            .order_by("pk")
            .values_list("upn", "usage_location")
        )
        lines = Numbers(seed=7)  # each user's own line, the same in every run
        self.line = {upn: lines.new(country) for upn, country in self.users}

    def records(self, start: int, count: int) -> list[dict]:
        # A day ago: ingest takes records of the last USAGE_MAX_AGE_DAYS only.
        moment = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
        pick, new = self.numbers.random, self.numbers.new
        batch = []
        for n in range(count):
            upn, country = pick.choice(self.users)
            kind, call_type, source = "call", "outbound", self.line[upn]
            roll = pick.random()
            if roll < 0.6:  # outbound calls, 60 % of them domestic
                to = new(country if pick.random() < 0.6 else pick.choice(ABROAD))
            elif roll < 0.72:
                call_type, source = "conference_dial_out", pick.choice(self.BRIDGES)
                to = new(country if pick.random() < 0.7 else pick.choice(ABROAD))
            elif roll < 0.8:
                call_type, to = "toll_free_dial_in", pick.choice(self.TOLL_FREE)
                source = new(pick.choice(ABROAD), "mobile")
            else:
                kind = call_type = "sms"
                to = new(country if pick.random() < 0.8 else pick.choice(ABROAD), "mobile")
            record = {
                "id": f"bench-{start + n}",
                "kind": kind,
                "type": call_type,
                "user": upn,
                "from": source,
                "to": to,
                "started_at": (moment + timedelta(seconds=n)).isoformat().replace("+00:00", "Z"),
            }
            if kind == "call":
                record["duration_seconds"] = min(int(pick.expovariate(1 / 180)), 7200)
            batch.append(record)
        return batch


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
    assert all(r["status"] == "rated" for r in results), [
        r for r in results if r["status"] != "rated"
    ][:3]
    return elapsed


COPY_FIELDS = (
    "organisation_id", "record_id", "kind", "type", "user_id", "from_number", "to_number",
    "to_country", "from_country", "domestic", "started_at", "duration_seconds", "units",
    "plan_minutes", "pool_category", "rate_per_unit", "rate_prefix", "charge", "currency",
    "funded_by", "capability", "authorization_code", "conference_id", "created_at",
)  # fmt: skip


def copy_seconds(organisation: Organisation, batch: list[dict]) -> float:
    """The rows ingest stored for this batch, as they are (only their ids made new), written
    with COPY into the usage records table itself (its indexes and constraints) and
    committed: the physical ceiling."""
    ids = [r["id"] for r in batch]
    stored = UsageRecord.objects.filter(organisation=organisation, record_id__in=ids)
    rows = [(row[0], "copy-" + row[1], *row[2:]) for row in stored.values_list(*COPY_FIELDS)]
    assert len(rows) == len(batch)
    started = time.perf_counter()
    with transaction.atomic():
        copy_rows(UsageRecord, COPY_FIELDS, rows)
    return time.perf_counter() - started


def ingest_and_copy(base: str, key: str, traffic: Traffic, batches: int = 10):
    """Records a second through the API and through COPY, batches of 1,000 in turn (so that
    both see the machine as it is at that moment), the median batch of each. The COPY rows
    are deleted afterwards."""
    offset = int(time.time() * 1000)
    ingest, copy = [], []
    for n in range(batches):
        batch = traffic.records(offset + n * 1000, 1000)
        body = json.dumps({"records": batch}).encode()
        ingest.append(1000 / ingest_seconds(base, key, body))
        copy.append(1000 / copy_seconds(traffic.organisation, batch))
    UsageRecord.objects.filter(
        organisation=traffic.organisation, record_id__startswith="copy-"
    ).delete()
    return statistics.median(ingest), statistics.median(copy)


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    organisation, key = setup()
    traffic = Traffic(organisation)
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
            body = json.dumps({"records": traffic.records(warm - n * 10, 10)}).encode()
            ingest_seconds(base, key, body)
        ingest, copy = ingest_and_copy(base, key, traffic)
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
