"""How fast are the usage report, the Credits page and Home with millions of usage records?

    .venv/bin/python -m credits_portal.embedded test -- .venv/bin/python bench/report.py
    ... bench/report.py --sizes 100000,1000000     # the growth at these sizes only
    ... bench/report.py --quick                    # 100,000 calls only, a few minutes
    ... bench/report.py --fresh                    # drop the bench database and start again

Writes to a database of its own, `credits_portal_bench_report`, beside the wrapper's (never the
test database), and keeps it between runs: records are only topped up to the size asked. At
each size (calls of one organisation over 90 days, a tenth as many SMS, plus 1,000,000 records
of 50 other organisations) it runs `rebuild_usage_aggregates` when the product has that command,
VACUUM ANALYZE, then prints p50/p95 of 20 loads of the report's default and 90-day views through
gunicorn, signed in as a global admin. At 1,000,000 calls (or the largest size asked) it also
prints every page of the issue's table, the funding planner alone, the report's Python time
(outside SQL), and the exports' rows per second and peak memory beside bare writers over the
same query. Each figure is printed beside its aim, and beside a ceiling measured in the same
run (/healthz through the same server, a bare `SELECT 1`).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "credits_portal.settings")
BENCH_DB = "credits_portal_bench_report"
LOADS = 20
MAIN_SIZE = 1_000_000


def _bench_database(fresh: bool) -> None:
    """DATABASE_URL pointed at the bench's own database, created when missing."""
    import psycopg2

    url = urlparse(os.environ["DATABASE_URL"])
    if url.path.strip("/") != BENCH_DB:
        conn = psycopg2.connect(url._replace(path="/postgres").geturl())
        conn.autocommit = True
        with conn.cursor() as cursor:
            if fresh:
                cursor.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB])
            if not cursor.fetchone():
                cursor.execute(f"CREATE DATABASE {BENCH_DB}")
        conn.close()
        os.environ["DATABASE_URL"] = url._replace(path=f"/{BENCH_DB}").geturl()
    # COPY of millions of rows and VACUUM outlive the portal's 30-second statement limit; the
    # server measured keeps its own.
    os.environ["DATABASE_STATEMENT_TIMEOUT"] = "0"


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000,5000000", help="calls, comma-separated")
    parser.add_argument("--quick", action="store_true", help="100,000 calls only")
    parser.add_argument("--fresh", action="store_true", help="drop the bench database first")
    parser.add_argument("--export-days", type=int, default=7, help="days of calls exported")
    parser.add_argument("--export-child", help=argparse.SUPPRESS)
    return parser.parse_args()


ARGS = _args()
if not ARGS.export_child:
    _bench_database(ARGS.fresh)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command, get_commands  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import QueryDict  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import report_data as data  # noqa: E402
from credits_portal.embedded import free_port, wait_for_port  # noqa: E402
from credits_portal.models import Organisation  # noqa: E402
from usage.models import UsageRecord  # noqa: E402
from usage.services.planner import funding_plan  # noqa: E402
from usage.services.report_export import export_assemble  # noqa: E402

AIMS = {  # the aims, in ms (pages: p95 at 1 M calls; at 5 M the second figure)
    "page": (150, 200),
    "planner": 10,
    "render": 60,
}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def p50_p95(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), pct(values, 95)


# --- The server --------------------------------------------------------------------------------


class Server:
    """gunicorn over the bench database, as production serves the portal; requests one at a time
    with the global admin's session cookie."""

    def __init__(self, cookie: str) -> None:
        self.port = free_port()
        self.cookie = cookie
        env = {
            **os.environ,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
        }
        env.pop("DATABASE_STATEMENT_TIMEOUT", None)  # the portal's own limit
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "credits_portal.wsgi:application",
             "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "--preload",
             "--timeout", "120", "--log-level", "warning"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        wait_for_port(self.port, self.proc, "gunicorn")
        self.base = f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, float, str]:
        request = urllib.request.Request(  # noqa: S310  (our own local server)
            self.base + path, headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={self.cookie}"}
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                body, status = response.read(), response.status
        except urllib.error.HTTPError as error:
            body, status = error.read(), error.code
        return status, (time.perf_counter() - started) * 1000, body.decode("utf-8", "replace")

    def timings(self, path: str, loads: int = LOADS) -> tuple[int, list[float]]:
        status, _ms, _body = self.get(path)  # warm: the first load of a view pays its imports
        if status != 200:
            return status, []
        return status, [self.get(path)[1] for _ in range(loads)]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def deep_page(server: Server) -> str:
    """Page 200 of the report: by its `cursor` links (followed 200 times) when the page has
    keyset pagination, else `?page=200`."""
    _status, _ms, body = server.get("/reports/usage/")
    path = "/reports/usage/"
    for _ in range(200):
        found = re.search(
            r'<a[^>]*href="([^"]*cursor=[^"]*)"[^>]*(?:rel="next"|>\s*Next)', body
        ) or re.search(r'<a[^>]*rel="next"[^>]*href="([^"]*cursor=[^"]*)"', body)
        if not found:
            return "/reports/usage/?page=200" if path == "/reports/usage/" else path
        link = html.unescape(found.group(1))
        path = link if link.startswith("/") else "/reports/usage/" + link
        _status, _ms, body = server.get(path)
    return path


# --- In-process figures ------------------------------------------------------------------------


def select_one() -> list[float]:
    with connection.cursor() as cursor:
        timings = []
        for _ in range(LOADS * 5):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def planner(organisation: Organisation) -> list[float]:
    funding_plan(organisation)
    timings = []
    for _ in range(LOADS):
        started = time.perf_counter()
        funding_plan(organisation)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def render_split(client: Client, path: str) -> tuple[list[float], list[float], list]:
    """Each load's total and SQL milliseconds in this process (Django's test client), and the
    statements of the last load by time: the rest of a load is Python (views, forms, templates)."""
    sql: list[tuple[float, str]] = []

    def timed(execute, statement, params, many, context):
        started = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            sql.append(((time.perf_counter() - started) * 1000, statement))

    client.get(path)
    totals, sqls = [], []
    with connection.execute_wrapper(timed):
        for _ in range(LOADS):
            sql.clear()
            started = time.perf_counter()
            response = client.get(path)
            totals.append((time.perf_counter() - started) * 1000)
            sqls.append(sum(ms for ms, _s in sql))
            assert response.status_code == 200, response.status_code
    return totals, sqls, sorted(sql, reverse=True)[:4]


# --- Exports, each in a process of its own for its peak memory ---------------------------------


def _memory(field: str) -> float:
    """This process's memory in MB from /proc (VmHWM: peak resident set). Not ru_maxrss: Linux
    carries that over exec from the forked parent, the bench itself."""
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(field + ":"):
            return int(row.split()[1]) / 1024
    raise LookupError(field)


def export_child(mode: str, days: int) -> None:
    """One export of the last `days` days of calls, written to a scratch file: prints its rows,
    seconds and peak RSS (and the RSS before it began) as JSON."""
    import csv
    import tempfile

    import xlsxwriter
    from django.contrib.auth import get_user_model

    organisation = Organisation.objects.get(slug=data.SLUG)
    user = get_user_model().objects.get(email=data.ADMIN)
    end = timezone.now().date()
    params = QueryDict(mutable=True)
    params.update({"range": "custom", "start": str(end - timedelta(days=days - 1)),
                   "end": str(end)})  # fmt: skip
    export = export_assemble(
        organisation=organisation, user=user, kind=UsageRecord.Kind.CALL, params=params
    )
    before = _memory("VmHWM")
    names = [f.column for f in UsageRecord._meta.concrete_fields] + [
        "user__display_name",
        "user__upn",
    ]
    fields = [f.name for f in UsageRecord._meta.concrete_fields] + names[-2:]
    rows = 0
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        if mode == "xlsx":
            export.xlsx(out=out, progress=lambda done: None)
        elif mode == "csv":
            for line in export.csv_lines():
                out.write(line.encode("utf-8"))
                rows += 1
            rows -= 1  # the heading
        else:  # the same query, bare: plain tuples to a bare writer
            plain = export.records.values_list(*fields).iterator(chunk_size=2000)
            if mode == "bare-xlsx":
                book = xlsxwriter.Workbook(out, {"constant_memory": True})
                sheet = book.add_worksheet()
                sheet.write_row(0, 0, names)
                for rows, values in enumerate(plain, start=1):
                    sheet.write_row(rows, 0, [
                        v.replace(tzinfo=None) if isinstance(v, datetime)
                        else float(v) if isinstance(v, Decimal) else v
                        for v in values
                    ])  # fmt: skip
                book.close()
            else:
                import io

                text = io.TextIOWrapper(out, encoding="utf-8", newline="")
                writer = csv.writer(text)
                writer.writerow(names)
                for values in plain:
                    writer.writerow(values)
                    rows += 1
                text.flush()
                text.detach()
    seconds = time.perf_counter() - started
    if mode == "xlsx":
        rows = export.records.count()
    peak = _memory("VmHWM")
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak, "before_mb": before}))


def export_run(mode: str, days: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--export-child", mode, "--export-days", str(days)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


# --- The run -----------------------------------------------------------------------------------


def refresh() -> float:
    """The product's rebuild of its aggregates when it has one, then VACUUM ANALYZE (the state
    autovacuum keeps a live table in); the seconds taken."""
    started = time.perf_counter()
    if "rebuild_usage_aggregates" in get_commands():
        call_command("rebuild_usage_aggregates")
    with connection.cursor() as cursor:
        for model in ("usage_usagerecord", "billing_ledgerentry", "usage_poolusage"):
            cursor.execute(f"VACUUM ANALYZE {model}")
    return time.perf_counter() - started


def line(name: str, values: list[float], aim: float | None, ceiling: float) -> str:
    p50, p95 = p50_p95(values)
    verdict = "" if aim is None else ("  meets" if p95 < aim else "  MISSES")
    aimed = f"aim < {aim:g} ms" if aim is not None else ""
    return (
        f"  {name:32s} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  {aimed:15s}{verdict:8s}"
        f"  ({p95 / ceiling:6.1f}x /healthz p95)"
    )


def main() -> None:
    if ARGS.export_child:
        export_child(ARGS.export_child, ARGS.export_days)
        return
    sizes = [100_000] if ARGS.quick else sorted(int(s) for s in ARGS.sizes.split(","))
    full_at = MAIN_SIZE if MAIN_SIZE in sizes else sizes[-1]
    run_started = time.perf_counter()
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    target, others = data.setup()
    print(f"Setup through the product's services: {time.perf_counter() - started:.0f} s")
    client = Client()
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(email=data.ADMIN))
    server = Server(client.cookies[settings.SESSION_COOKIE_NAME].value)
    growth = []
    try:
        for size in sizes:
            started = time.perf_counter()
            took = data.generate(target, others, size)
            for part, seconds in took.items():
                print(f"COPY {part}: {seconds:.0f} s")
            print(f"Data at {size:,} calls ready in {time.perf_counter() - started:.0f} s "
                  f"(aggregates rebuilt and VACUUM ANALYZE: {refresh():.0f} s)")  # fmt: skip
            health = server.timings("/healthz")[1]
            ceiling = pct(health, 95)
            default = server.timings("/reports/usage/")[1]
            ninety = server.timings("/reports/usage/?range=90")[1]
            plan = planner(target)
            # The data is only topped up: a size below what an earlier run left is measured at
            # the calls there are (--fresh to see the growth from the smallest size).
            have = UsageRecord.objects.filter(organisation=target, kind="call").count()
            growth.append((have, pct(default, 95), pct(ninety, 95), pct(plan, 95), ceiling))
            if size != full_at:
                continue
            calls = UsageRecord.objects.filter(organisation=target, kind="call").count()
            print(
                f"\nAt {calls:,} calls and {size // 10:,} SMS of {data.SLUG} over {data.DAYS} days, "
                f"{UsageRecord.objects.count():,} records in all; gunicorn (2 workers), "
                f"one request at a time, {LOADS} loads each after one warm-up:"
            )
            aim = AIMS["page"][0] if size <= MAIN_SIZE else AIMS["page"][1]
            print(line("/healthz (the ceiling)", health, None, ceiling))
            print(line("report, default (28 days)", default, aim, ceiling))
            print(line("report, 90 days", ninety, aim, ceiling))
            deep = deep_page(server)
            pages = [
                ("report, sorted by charge", "/reports/usage/?sort=-charge", aim),
                (f"report, deep page ({'cursor' if 'cursor=' in deep else 'page=200'})", deep, aim),
                ("Communications Credits", "/billing/credits/", aim),
                ("Home", "/", None),
                ("PSTN minute pools", "/reports/pools/", aim),
                ("refused calls", "/reports/refused-calls/", None),
            ]
            for name, path, page_aim in pages:
                status, values = server.timings(path)
                if status == 404:
                    print(f"  {name:32s} skipped: {path} answers 404 on this branch")
                elif status != 200:
                    print(f"  {name:32s} answered {status}: not measured")
                else:
                    print(line(name, values, page_aim, ceiling))
            one = select_one()
            print(f"  bare SELECT 1 round trip         p50 {statistics.median(one):8.3f} ms "
                  f"(in this process)")  # fmt: skip
            p50, p95 = p50_p95(plan)
            print(
                f"  funding planner alone            p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  "
                f"aim < {AIMS['planner']} ms   {'meets' if p95 < AIMS['planner'] else 'MISSES'}"
                f"  ({p95 / statistics.median(one):,.0f}x SELECT 1)"
            )
            totals, sqls, slowest = render_split(client, "/reports/usage/")
            python = [t - s for t, s in zip(totals, sqls, strict=True)]
            print(
                f"  report in this process (test client): p50 {statistics.median(totals):.1f} ms, "
                f"of it SQL {statistics.median(sqls):.1f} ms and Python "
                f"{statistics.median(python):.1f} ms (aim < {AIMS['render']} ms of Python: "
                f"{'meets' if statistics.median(python) < AIMS['render'] else 'MISSES'})"
            )
            for ms, statement in slowest:
                print(f"    {ms:7.1f} ms  {' '.join(statement.split())[:110]}")
            print(f"\nExports of the last {ARGS.export_days} days of calls (each in its own process; "
                  "peak = VmHWM, Django loaded included):")  # fmt: skip
            figures = {m: export_run(m, ARGS.export_days) for m in
                       ("xlsx", "bare-xlsx", "csv", "bare-csv")}  # fmt: skip
            for product, bare, floor in (("xlsx", "bare-xlsx", 0.7), ("csv", "bare-csv", 0.6)):
                mine, base = figures[product], figures[bare]
                rate, bare_rate = (f["rows"] / f["seconds"] for f in (mine, base))
                ratio = rate / bare_rate
                print(
                    f"  .{product:4s} {mine['rows']:,} rows  {rate:8,.0f} rows/s  peak "
                    f"{mine['peak_mb']:5.0f} MB (before {mine['before_mb']:.0f})  bare writer "
                    f"{bare_rate:8,.0f} rows/s, {base['peak_mb']:.0f} MB  → {ratio:.2f}x  "
                    f"(aim ≥ {floor}x under 200 MB: "
                    f"{'meets' if ratio >= floor and mine['peak_mb'] < 200 else 'MISSES'})"
                )
    finally:
        server.stop()
    print("\nGrowth (p95 of the report through gunicorn; planner in this process; the calls the")
    print("data held when measured):")
    print("  calls        default (28 d)   90 days    planner   /healthz")
    for size, default, ninety, plan, ceiling in growth:
        aim = AIMS["page"][0] if size <= MAIN_SIZE else AIMS["page"][1]
        print(f"  {size:>9,}  {default:10.1f} ms  {ninety:8.1f} ms  {plan:6.1f} ms  "
              f"{ceiling:6.1f} ms   aim < {aim} ms")  # fmt: skip
    print(f"\nWhole run: {time.perf_counter() - run_started:.0f} s")


if __name__ == "__main__":
    main()
