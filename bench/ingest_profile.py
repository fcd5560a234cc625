"""Where does a batch of usage ingest spend its time? bench/platform_api.py's organisation and
traffic (a new number in every record), `usage_ingest` called directly (no HTTP), beside a COPY
of the same rows into the same table; then cProfile of one batch of 1,000.

    .venv/bin/python -m credits_portal.embedded test -- .venv/bin/python bench/ingest_profile.py
    ... bench/ingest_profile.py --batches 10 --top 40 --sort cumulative
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from django.db import connection

from bench.platform_api import Traffic, copy_seconds, setup
from usage.models import UsageRecord
from usage.services.ingest import usage_ingest


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=6, help="timed batches of 1,000")
    parser.add_argument("--top", type=int, default=30, help="profile lines shown")
    parser.add_argument("--sort", default="tottime", help="pstats sort key")
    return parser.parse_args()


class Statements:
    """The SQL statements a batch sends, and the seconds they take (the database's side)."""

    def __init__(self) -> None:
        self.count, self.seconds = 0, 0.0
        self.each: list[tuple[float, str]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = time.perf_counter() - started
            self.count += 1
            self.seconds += took
            self.each.append((took, " ".join(sql.split())[:110]))


def main() -> None:
    args = _args()
    organisation, _key = setup()
    traffic = Traffic(organisation)
    offset = int(time.time() * 1000)
    for n in range(3):  # warm: first-use caches, lazy imports
        usage_ingest(organisation=organisation, records=traffic.records(offset - 100 - n * 10, 10))
    ingest, copy, sql = [], [], []
    for n in range(args.batches):
        batch = traffic.records(offset + n * 1000, 1000)
        statements = Statements()
        started = time.perf_counter()
        with connection.execute_wrapper(statements):
            results = usage_ingest(organisation=organisation, records=batch)
        ingest.append(time.perf_counter() - started)
        sql.append((statements.count, statements.seconds))
        assert all(r.status == "rated" for r in results), [
            r for r in results if r.status != "rated"
        ][:3]
        copy.append(copy_seconds(organisation, batch))
    UsageRecord.objects.filter(organisation=organisation, record_id__startswith="copy-").delete()
    median_ingest, median_copy = statistics.median(ingest), statistics.median(copy)
    count, seconds = sql[ingest.index(sorted(ingest)[len(ingest) // 2])]
    print(
        f"usage_ingest {1000 / median_ingest:7.0f} records/s (median of {args.batches} batches"
        f" of 1,000: {median_ingest * 1000:.0f} ms, {count} statements taking"
        f" {seconds * 1000:.0f} ms); COPY {1000 / median_copy:7.0f} rows/s"
        f" ({median_copy * 1000:.0f} ms): ingest is {median_copy / median_ingest:.0%} of COPY"
    )
    print("The last batch's statements, slowest first:")
    for took, sql in sorted(statements.each, reverse=True):
        print(f"  {took * 1000:6.1f} ms  {sql}")
    batch = traffic.records(offset + args.batches * 1000, 1000)
    profile = cProfile.Profile()
    profile.runcall(usage_ingest, organisation=organisation, records=batch)
    pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
