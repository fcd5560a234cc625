"""How fast are the report's exports beside bare writers over the same query? bench/report.py's
export part alone, on a smaller database of its own, so that a change to the exports can be
measured (and profiled) in a minute rather than an hour.

    .venv/bin/python -m credits_portal.embedded test -- .venv/bin/python bench/exports.py
    ... bench/exports.py --calls 200000            # more records (topped up, never rewritten)
    ... bench/exports.py --columns all             # every column the picker offers (lots too)
    ... bench/exports.py --profile csv             # cProfile of one export, top 25 by own time

Writes to `credits_portal_bench_exports` beside the wrapper's database and keeps it between
runs. The organisation, users, licenses and rate card are bench/report.py's (made through the
product's services), the calls its records over 90 days with a ledger entry for every credit
charge. Each export reads every call, in a process of its own for its peak memory (VmHWM); the
bare writers read the same query's every column as tuples, as bench/report.py's do.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "credits_portal.settings")
BENCH_DB = "credits_portal_bench_exports"
MODES = ("xlsx", "bare-xlsx", "csv", "bare-csv")
AIMS = {"xlsx": 0.7, "csv": 0.6}  # the issue's: at least this share of the bare writer's rate
PEAK_MB = 200


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000, help="calls of the organisation")
    parser.add_argument("--columns", choices=("default", "all"), default="default")
    parser.add_argument("--profile", choices=MODES, help="profile this export instead")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each export (best kept)")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    return parser.parse_args()


def _bench_database() -> None:
    import psycopg2

    url = urlparse(os.environ["DATABASE_URL"])
    if url.path.strip("/") != BENCH_DB:
        conn = psycopg2.connect(url._replace(path="/postgres").geturl())
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB])
            if not cursor.fetchone():
                cursor.execute(f"CREATE DATABASE {BENCH_DB}")
        conn.close()
        os.environ["DATABASE_URL"] = url._replace(path=f"/{BENCH_DB}").geturl()
    os.environ["DATABASE_STATEMENT_TIMEOUT"] = "0"


ARGS = _args()
if not ARGS.child:
    _bench_database()

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import QueryDict  # noqa: E402

from bench import report_data as data  # noqa: E402
from credits_portal.models import Organisation  # noqa: E402
from usage.exports import CALL_COLUMNS  # noqa: E402
from usage.models import UsageRecord  # noqa: E402
from usage.preferences import preference_save  # noqa: E402
from usage.services.report_export import export_assemble  # noqa: E402


def _memory(field: str) -> float:
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(field + ":"):
            return int(row.split()[1]) / 1024
    raise LookupError(field)


def _export():
    organisation = Organisation.objects.get(slug=data.SLUG)
    user = get_user_model().objects.get(email=data.ADMIN)
    params = QueryDict("range=90")
    return export_assemble(
        organisation=organisation, user=user, kind=UsageRecord.Kind.CALL, params=params
    )


def _write(mode: str, export, out) -> int:
    """The export `mode` of `export` written to `out`; the records written."""
    if mode == "xlsx":
        export.xlsx(out=out, progress=lambda done: None)
        return export.records.count()
    if mode == "csv":
        lines = -1  # the heading
        for line in export.csv_lines(lambda done: None):
            out.write(line.encode("utf-8"))
            lines += 1
        return lines
    # bench/report.py's bare writers: the same query's every column as tuples
    names = [f.column for f in UsageRecord._meta.concrete_fields] + [
        "user__display_name",
        "user__upn",
    ]
    fields = [f.name for f in UsageRecord._meta.concrete_fields] + names[-2:]
    plain = export.records.values_list(*fields).iterator(chunk_size=2000)
    rows = 0
    if mode == "bare-xlsx":
        import xlsxwriter

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
        return rows
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow(names)
    for values in plain:
        writer.writerow(values)
        rows += 1
    text.flush()
    text.detach()
    return rows


def child(mode: str) -> None:
    export = _export()
    before = _memory("VmHWM")
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        rows = _write(mode, export, out)
    seconds = time.perf_counter() - started
    peak = _memory("VmHWM")
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak, "before_mb": before}))


def run(mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode],
        capture_output=True, text=True, check=True, cwd=ROOT, env=os.environ,
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def setup(calls: int) -> None:
    call_command("migrate", verbosity=0)
    data.OTHERS = 0  # the large organisation alone
    target, _others = data.setup()
    written = data.top_up(target, UsageRecord.Kind.CALL, calls, 1, ledger=True)
    if written:
        with connection.cursor() as cursor:
            for table in ("usage_usagerecord", "billing_ledgerentry"):
                cursor.execute(f"VACUUM ANALYZE {table}")
    user = get_user_model().objects.get(email=data.ADMIN)
    keys = [key for key, _title, _get in CALL_COLUMNS] if ARGS.columns == "all" else []
    preference_save(user=user, call_columns=keys, sms_columns=[], time_zone="Europe/Paris")


def main() -> None:
    if ARGS.child:
        child(ARGS.child)
        return
    setup(ARGS.calls)
    if ARGS.profile:
        export = _export()
        profile = cProfile.Profile()
        with tempfile.TemporaryFile() as out:
            profile.runcall(_write, ARGS.profile, export, out)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return
    figures = {}
    for mode in MODES:
        runs = [run(mode) for _ in range(ARGS.rounds)]
        figures[mode] = min(runs, key=lambda f: f["seconds"])
    print(
        f"Exports of {figures['csv']['rows']:,} calls, {ARGS.columns} columns, Europe/Paris "
        f"(best of {ARGS.rounds}; peak = VmHWM, Django loaded included):"
    )
    for product in ("xlsx", "csv"):
        mine, base = figures[product], figures[f"bare-{product}"]
        rate, bare_rate = (f["rows"] / f["seconds"] for f in (mine, base))
        ratio = rate / bare_rate
        meets = ratio >= AIMS[product] and mine["peak_mb"] < PEAK_MB
        print(
            f"  .{product:4s} {rate:8,.0f} rows/s  peak {mine['peak_mb']:4.0f} MB  bare writer "
            f"{bare_rate:8,.0f} rows/s, {base['peak_mb']:4.0f} MB  → {ratio:.2f}x  "
            f"(aim ≥ {AIMS[product]}x under {PEAK_MB} MB: {'meets' if meets else 'MISSES'})"
        )


if __name__ == "__main__":
    main()
