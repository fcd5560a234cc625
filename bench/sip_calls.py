"""Calls through a real SIP proxy: SIPp at increasing call rates through Kamailio (running
contrib/kamailio/) against the portal on gunicorn.

    .venv/bin/python -m credits_portal.embedded test -- .venv/bin/python bench/sip_calls.py
    ... bench/sip_calls.py --rates 10,25,50,100,200 --seconds 10

Needs Kamailio 5.6 with its Python and utils modules and SIPp (Debian: apt-get install kamailio
kamailio-python3-modules kamailio-utils-modules sip-tester). At each rate SIPp places calls for
--seconds from the users of one organisation (credit-funded international calls and plan-funded
domestic ones, half each) to an answering SIPp that rings and answers at once, first through a
plain Kamailio relay (bench/sip/relay.cfg: the same record-routing, stateful relay and dialog for
every call, nothing asked of the portal; the ceiling), then through contrib/kamailio/ (authorize
before relaying, a usage record posted when the call ends). Half the calls hang up after
--hangup seconds; the other half hold on until the proxy cuts them at their funded time, which
the bench makes short (the portal's AUTHORIZATION_MAX_SECONDS, --funded). Printed, per rate:
- calls per second answered through each proxy, the authorizing one as a share of the relay's;
- the post-dial delay (INVITE to the first of 180/200, SIPp's microsecond message trace) p50/p99
  through each, and what the authorize hop adds;
- calls connected beyond their funded time (held more than --funded + 1 s, or never cut), cut
  early, and connected calls without exactly one usage record once the proxy's retry queue is
  empty; then where it saturates (a call not answered, the offered rate not kept, or a p99 past
  SIP's 500 ms retransmission timer; the run stops at a rate where more than half the calls
  fail), the ledger check, and the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "credits_portal.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from bench.platform_api import Numbers  # noqa: E402
from bench.sip_traces import T1_MS, Call, Step, beyond_funded, read_callee, read_trace  # noqa: E402
from billing.services.ledger import account_for  # noqa: E402
from billing.services.purchases import funds_grant  # noqa: E402
from billing.services.verify import ledger_verify  # noqa: E402
from credits_portal import services  # noqa: E402
from credits_portal.embedded import free_port, wait_for_port  # noqa: E402
from credits_portal.models import Organisation  # noqa: E402
from licensing.models import DirectoryUser  # noqa: E402
from licensing.services import Change, license_change, seats_add  # noqa: E402
from usage.models import UsageRecord  # noqa: E402
from usage.services.rates import rate_card_load  # noqa: E402

SIP = ROOT / "bench" / "sip"
KAMAILIO_CFG = ROOT / "contrib" / "kamailio" / "kamailio.cfg"
KAMAILIO_SCRIPT = ROOT / "contrib" / "kamailio" / "credits_portal.py"
SLUG = "bench-sip"
USERS = 200
DOMAIN = "sip.bench.example"
SKUS = {"PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS"}
AIM_RATE, AIM_ADDED_P99_MS = 50, 20


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10,25,50,100,200", help="calls/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=10, help="of new calls at each rate")
    parser.add_argument("--funded", type=int, default=4, help="seconds each call is funded for")
    parser.add_argument("--hangup", type=float, default=2, help="seconds before callers hang up")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--keep", action="store_true", help="keep the logs and SIPp traces")
    parser.add_argument("--debug-level", type=int, default=1, help="the proxy's (2: each call)")
    return parser.parse_args()


# --- The organisation --------------------------------------------------------------------------


def setup() -> tuple[Organisation, str]:
    """An organisation whose users have a domestic plan and Communications Credits, a rate card,
    a balance that funds every call for as long as the cap allows, and a platform key."""
    call_command("migrate", verbosity=0)
    organisation = Organisation.objects.filter(slug=SLUG).first() or services.organisation_create(
        slug=SLUG, name="Bench SIP"
    )
    rate_card_load(currency="USD", text=(ROOT / "usage/data/demo_rate_card.csv").read_text())
    if not DirectoryUser.objects.filter(organisation=organisation).exists():
        with transaction.atomic():
            for sku in SKUS:
                seats_add(organisation=organisation, sku=sku, count=USERS)
            users = DirectoryUser.objects.bulk_create(
                DirectoryUser(
                    organisation=organisation,
                    upn=f"u{n}@bench.example",
                    display_name=f"U{n}",
                    usage_location="US",
                )
                for n in range(USERS)
            )
        license_change(
            organisation=organisation,
            changes=[Change(user, SKUS) for user in users],
            actor="bench",
            source="bench",
        )
    funds_grant(
        account=account_for(organisation), amount=Decimal("100000"), reference=f"sip-{time.time()}"
    )
    _key, plain = services.api_key_create(organisation=organisation, name="sip", scope="platform")
    return organisation, plain


def mapping(key: str) -> dict:
    """contrib/kamailio's mapping file: each SIP identity's UPN and line, the platform key."""
    lines = Numbers(seed=11)
    return {
        "organisations": {SLUG: {"platform_key": key}},
        "users": {
            f"u{n}@{DOMAIN}": {
                "organisation": SLUG,
                "upn": f"u{n}@bench.example",
                "number": lines.new("US"),
            }
            for n in range(USERS)
        },
    }


def calls(count: int, numbers: Numbers) -> list[Call]:
    """Half to the US (the domestic plan's minutes), half to the UK (credits); every number new,
    so that each call's usage record is found by the number it called."""
    return [
        Call(n % USERS, numbers.new("US" if n % 4 < 2 else "GB"), ("hangup", "cut")[n % 2])
        for n in range(count)
    ]


# --- The processes -----------------------------------------------------------------------------


def udp_port() -> int:
    while True:
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def sip_ping(port: int, proc: subprocess.Popen, name: str, timeout: float = 30) -> None:
    """Waits until the proxy answers an OPTIONS on its UDP port."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.3)
        local = sock.getsockname()[1]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with status {proc.returncode} while starting")
            branch = uuid.uuid4().hex
            sock.sendto(
                (
                    f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{branch}\r\n"
                    f"From: <sip:ping@{DOMAIN}>;tag={branch[:8]}\r\nTo: <sip:127.0.0.1:{port}>\r\n"
                    f"Call-ID: {branch}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                    "Content-Length: 0\r\n\r\n"
                ).encode(),
                ("127.0.0.1", port),
            )
            try:
                if sock.recv(4096).startswith(b"SIP/2.0 "):
                    return
            except TimeoutError:
                continue
    raise SystemExit(f"{name} did not answer OPTIONS on UDP {port} within {timeout:.0f}s")


class Processes:
    """gunicorn, the answering SIPp and the two proxies, all on free loopback ports."""

    def __init__(self, work: Path, key: str, args: argparse.Namespace) -> None:
        self.work = work
        self.procs: list[subprocess.Popen] = []
        http_port = free_port()
        env = {
            **os.environ,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "AUTHORIZATION_MAX_SECONDS": str(args.funded),
        }
        gunicorn = self.start(
            "gunicorn",
            [str(Path(sys.executable).parent / "gunicorn"), "credits_portal.wsgi:application",
             "--bind", f"127.0.0.1:{http_port}", "--workers", str(args.workers), "--preload",
             "--log-level", "warning"],
            env=env, cwd=ROOT,
        )  # fmt: skip
        wait_for_port(http_port, gunicorn, "gunicorn")
        self.base = f"http://127.0.0.1:{http_port}"
        self.answer_port = udp_port()
        self.start(
            "sipp-answer",
            ["sipp", "-sf", str(SIP / "uas.xml"), "-i", "127.0.0.1", "-p", str(self.answer_port),
             "-nostdin", "-trace_err", "-trace_shortmsg", "-max_socket", "5000"],
            cwd=work,
        )  # fmt: skip
        (work / "mapping.json").write_text(json.dumps(mapping(key)))
        self.spool = work / "spool"
        self.spool.mkdir()
        portal_env = {
            **os.environ,
            "CREDITS_PORTAL_URL": f"http://127.0.0.1:{http_port}",
            "CREDITS_PORTAL_MAPPING": str(work / "mapping.json"),
            "CREDITS_PORTAL_SPOOL": str(self.spool),
        }
        self.relay_port = self.kamailio("relay", SIP / "relay.cfg", [], os.environ)
        self.portal_port = self.kamailio(
            "authorize",
            KAMAILIO_CFG,
            ["-A", f'KSR_SCRIPT="{KAMAILIO_SCRIPT}"', "-A", f"DEBUG_LEVEL={args.debug_level}"],
            portal_env,
        )

    def start(self, name: str, command: list[str], env=None, cwd=None) -> subprocess.Popen:
        log = (self.work / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            command, cwd=cwd or self.work, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        self.procs.append(proc)
        return proc

    def kamailio(self, name: str, cfg: Path, extra: list[str], env) -> int:
        port = udp_port()
        runtime = self.work / f"run-{name}"
        runtime.mkdir()
        proc = self.start(
            f"kamailio-{name}",
            ["kamailio", "-f", str(cfg), "-DD", "-E", "-l", f"udp:127.0.0.1:{port}",
             "-Y", str(runtime), "-w", str(runtime), *extra],
            env=env,
        )  # fmt: skip
        sip_ping(port, proc, f"kamailio ({name})")
        return port

    def spool_empty(self, timeout: float = 60) -> bool:
        """Waits for the proxy's retry queue to send everything it holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(self.spool.glob("*.json")):
                return True
            time.sleep(0.5)
        return False

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def portal_alone(base: str, key: str, numbers: Numbers, count: int = 40) -> str:
    """What the proxy's two round trips cost without the proxy: authorize, then the call's usage
    record alone, one request at a time from here; and a batch of 100 records."""

    def post(path: str, body: dict) -> tuple[float, dict]:
        request = urllib.request.Request(  # noqa: S310  (our own local server)
            base + path,
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            answer = json.load(response)
        return (time.perf_counter() - started) * 1000, answer

    def record(n: int, to: str, authorization: str | None) -> dict:
        at = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        return {"id": f"alone-{uuid.uuid4().hex}", "kind": "call", "type": "outbound",
                "user": f"u{n % USERS}@bench.example", "to": to, "started_at": at,
                "duration_seconds": 3, "authorization_id": authorization}  # fmt: skip

    authorize, ingest = [], []
    for n in range(count + 5):
        to = numbers.new("US" if n % 2 else "GB")
        body = {"user": f"u{n % USERS}@bench.example", "type": "outbound", "to": to}
        ms, answer = post("/api/v1/calls/authorize", body)
        ms_record, _ = post(
            "/api/v1/usage/records", {"records": [record(n, to, answer["authorization_id"])]}
        )
        if n >= 5:  # the first ones warm the workers
            authorize.append(ms)
            ingest.append(ms_record)
    batch = [record(n, numbers.new("US"), None) for n in range(100)]
    ms_batch, answer = post("/api/v1/usage/records", {"records": batch})
    statuses = Counter(r["status"] for r in answer["results"])
    assert statuses == {"rated": 100}, statuses

    def p(values: list[float], percent: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]

    return (
        f"The portal alone, one request at a time ({count} each): authorize p50 {p(authorize, 50):.1f}"
        f" p99 {p(authorize, 99):.1f} ms; one call's usage record p50 {p(ingest, 50):.1f}"
        f" p99 {p(ingest, 99):.1f} ms; 100 records in one batch {ms_batch:.0f} ms"
        f" ({ms_batch / 100:.1f} ms a record)."
    )


# --- One rate through one proxy ----------------------------------------------------------------


def run_step(mode: str, port: int, rate: int, planned: list[Call], procs: Processes, args) -> Step:
    work = procs.work / f"{mode}-{rate}"
    work.mkdir()
    rows = ["SEQUENTIAL", *(f"u{c.user};{DOMAIN};{c.to};{c.kind}" for c in planned)]
    (work / "calls.csv").write_text("\n".join(rows) + "\n")
    cut_wait = (args.funded + 3) * 1000
    scenario = (SIP / "uac.xml").read_text().replace("${CUT_WAIT}", str(cut_wait))
    (work / "uac.xml").write_text(scenario)
    command = [
        "sipp", "-sf", "uac.xml", "-inf", "calls.csv", "-i", "127.0.0.1", "-p", str(udp_port()),
        "-set", "target", f"127.0.0.1:{procs.answer_port}",
        "-rsa", f"127.0.0.1:{port}", f"127.0.0.1:{port}",
        "-r", str(rate), "-m", str(len(planned)), "-l", "100000",
        "-d", str(int(args.hangup * 1000)), "-nostdin", "-trace_shortmsg", "-trace_err",
        "-timeout", f"{int(args.seconds + args.funded + 60)}s",
    ]  # fmt: skip
    with (work / "sipp.log").open("wb") as log:
        subprocess.run(command, cwd=work, stdout=log, stderr=subprocess.STDOUT, check=False)
    step = Step(mode, rate, len(planned), load=os.getloadavg()[0])
    trace = next(work.glob("uac_*_shortmessages.log"), None)
    ids = read_trace(step, trace.read_text().splitlines() if trace else [], planned)
    time.sleep(1)  # the answering SIPp writes its trace a moment later
    answering = next(procs.work.glob("uas_*_shortmessages.log"), None)
    read_callee(step, answering.read_text().splitlines() if answering else [], ids)
    return step


def check_records(step: Step, organisation: Organisation, planned: list[Call]) -> None:
    """Every connected call has exactly one usage record, of about the duration SIPp saw; a call
    that never connected has none."""
    numbers = [c.to for c in planned]
    found = Counter()
    off = 0
    for to, seconds in UsageRecord.objects.filter(
        organisation=organisation, to_number__in=numbers
    ).values_list("to_number", "duration_seconds"):
        found[to] += 1
        if to in step.answered and abs(seconds - step.answered[to]) > 1:
            off += 1
    step.records = {
        "missing": sum(1 for to in step.answered if not found[to]),
        "missing_held": sum(
            1 for c in planned if c.kind == "cut" and c.to in step.answered and not found[c.to]
        ),
        "twice": sum(1 for to in step.answered if found[to] > 1),
        "unconnected": sum(n for to, n in found.items() if to not in step.answered),
        "duration_off": off,
    }


# --- The run -----------------------------------------------------------------------------------


def row(relay: Step, authorize: Step, funded: int) -> str:
    def answered_per_second(step: Step) -> float:
        return len(step.answered) / (step.span + 1 / step.rate) if step.span else 0.0

    ceiling, rate = answered_per_second(relay), answered_per_second(authorize)
    share = rate / ceiling if ceiling else 0.0
    cut_ok = sum(1 for s in authorize.cut if abs(s - funded) <= 1)
    held = len(authorize.cut) + authorize.overruns
    beyond = beyond_funded(authorize, funded)
    failures = ", ".join(f"{n}x{code}" for code, n in sorted(authorize.finals.items()))
    records = authorize.records
    return (
        f"{authorize.rate:6d} |{ceiling:6.1f}{relay.p(50):8.1f}{relay.p(99):8.1f} "
        f"|{rate:6.1f}{share:5.0%}{authorize.p(50):8.1f}{authorize.p(99):8.1f} "
        f"|{authorize.p(50) - relay.p(50):8.1f}{authorize.p(99) - relay.p(99):8.1f} "
        f"|{authorize.failed:5d} |{cut_ok:5d}/{held:<5d}{beyond:6d}{authorize.early:6d} "
        f"|{records.get('missing', 0):5d}{records.get('twice', 0):6d}"
        f"{records.get('unconnected', 0):6d}{records.get('duration_off', 0):6d} "
        f"|{relay.load:6.1f}{authorize.load:5.1f}" + (f"  failed: {failures}" if failures else "")
    )


HEADER = "\n".join(
    (
        " calls | relay (ceiling)      | authorize + record        | added PDD        | fail "
        "| the proxy cut held calls | usage records           | load avg",
        "   /s  |   /s     p50     p99 |   /s  of     p50     p99 |     p50     p99 |      "
        "| at funded±1 s beyond early| none twice  !con  !dur | relay auth",
        "  (PDD in ms: INVITE to the first 180/200. !con: records of calls never connected;"
        " !dur: a duration more than 1 s from SIPp's)",
    )
)


def main() -> None:
    args = _args()
    missing = [tool for tool in ("kamailio", "sipp") if not shutil.which(tool)]
    if missing:
        sys.exit(
            f"{' and '.join(missing)} needed: apt-get install kamailio kamailio-python3-modules"
            " kamailio-utils-modules sip-tester"
        )
    if not KAMAILIO_SCRIPT.exists():
        sys.exit(f"{KAMAILIO_SCRIPT.relative_to(ROOT)} is missing: the proxy's configuration")
    rates = [int(r) for r in args.rates.split(",")]
    organisation, key = setup()
    numbers = Numbers(seed=int(time.time()))
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="sip-calls-"))
    procs = Processes(work, key, args)
    steps: list[tuple[Step, Step]] = []
    print(
        f"SIP calls through Kamailio (contrib/kamailio/) to the portal on gunicorn"
        f" ({args.workers} workers), this machine: {args.seconds:g} s of new calls at each rate,"
        f" half hung up by the caller after {args.hangup:g} s, half held until the proxy cuts"
        f" them at their funded {args.funded} s (AUTHORIZATION_MAX_SECONDS). PDD: INVITE to the"
        f" first 180/200, ms. Ceiling: the same calls through a Kamailio that relays without"
        f" asking the portal (bench/sip/relay.cfg), at the same rate, in turn.",
        flush=True,
    )
    try:
        print(portal_alone(procs.base, key, numbers), flush=True)
        warm = calls(20, numbers)  # the workers' first calls pay their imports and caches
        run_step("warm-relay", procs.relay_port, 10, warm, procs, args)
        run_step("warm-authorize", procs.portal_port, 10, warm, procs, args)
        print(HEADER, flush=True)
        for rate in rates:
            planned = calls(int(rate * args.seconds), numbers)
            relay = run_step("relay", procs.relay_port, rate, planned, procs, args)
            authorize = run_step("authorize", procs.portal_port, rate, planned, procs, args)
            if not procs.spool_empty():
                print("  (the proxy's retry queue still holds records after 60 s)")
            check_records(authorize, organisation, planned)
            steps.append((relay, authorize))
            print(row(relay, authorize, args.funded), flush=True)
            if authorize.failed > authorize.offered / 2:
                break  # well past saturation: higher rates would say nothing more
    finally:
        procs.stop()
    summary(steps, args, load_before, organisation)
    if args.keep:
        print(f"Logs and SIPp traces: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def summary(steps: list[tuple[Step, Step]], args, load_before, organisation) -> None:
    sustained = [a.rate for _r, a in steps if a.sustained]
    ceiling = [r.rate for r, _a in steps if r.sustained]
    unsustained = next((a for _r, a in steps if not a.sustained), None)
    print(
        f"Sustained with the authorize and usage-record round trips at"
        f" {', '.join(map(str, sustained)) or 'none'} calls/s of the rates tried"
        f" (the relay alone at {', '.join(map(str, ceiling)) or 'none'})."
    )
    if unsustained is None:
        print(f"  Not saturated at {steps[-1][1].rate} calls/s.")
    else:
        why = []
        if unsustained.failed:
            why.append(f"{unsustained.failed} of {unsustained.offered} calls not answered")
        if unsustained.rate_kept < 0.95 * unsustained.rate:
            why.append(f"SIPp kept {unsustained.rate_kept:.0f} calls/s")
        if unsustained.p(99) >= T1_MS:
            why.append(f"PDD p99 {unsustained.p(99):.0f} ms, past SIP's T1")
        print(f"  Saturates at {unsustained.rate} calls/s: {'; '.join(why)}.")
    at_aim = next(((r, a) for r, a in steps if a.rate == AIM_RATE), None)
    if at_aim:
        added = at_aim[1].p(99) - at_aim[0].p(99)
        verdict = "met" if added < AIM_ADDED_P99_MS else "NOT met"
        print(
            f"Added PDD p99 at {AIM_RATE} calls/s: {added:.1f} ms"
            f" (aim < {AIM_ADDED_P99_MS} ms: {verdict})."
        )
    beyond = sum(beyond_funded(a, args.funded) for _r, a in steps)
    callee = sum(1 for _r, a in steps for s in a.callee.values() if s == float("inf"))
    unbilled = sum(a.records.get("missing", 0) for _r, a in steps)
    twice = sum(a.records.get("twice", 0) for _r, a in steps)
    print(
        f"Calls connected beyond their funded time (±1 s), either side: {beyond} (aim 0);"
        f" of them the answering side never received a BYE: {callee}."
    )
    held = sum(a.records.get("missing_held", 0) for _r, a in steps)
    print(
        f"Connected calls without a usage record: {unbilled} ({held} of them held until the proxy"
        f" cut them, {unbilled - held} hung up by the caller); with two or more: {twice} (aim 0)."
    )
    problems = ledger_verify(organisation)
    print(f"verify_ledger {SLUG}: {'clean' if not problems else '; '.join(problems[:5])}.")
    after = os.getloadavg()
    print(
        f"Load average (1/5/15 min) before {'/'.join(f'{v:.1f}' for v in load_before)},"
        f" after {'/'.join(f'{v:.1f}' for v in after)} (2 cores, shared)."
    )


if __name__ == "__main__":
    main()
