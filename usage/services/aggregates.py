"""Daily usage aggregates (`DailyUsage`): the records summed per organisation, UTC day and the
report's dimensions, kept exact with the records.

- `aggregates_add`: ingest adds the records it has just inserted, in the same transaction and
  under the same usage lock (usage/services/locks.py), with one set-based upsert (a duplicate
  record is never inserted, so it adds nothing).
- `aggregates_rebuild`: the organisation's aggregates recomputed from its records, under the
  usage lock that ingest takes, so no batch lands between the delete and the insert.
- `AGGREGATE_CHECKS`: `verify_ledger`'s rule that the aggregates equal the records.
- The reads of the report (`usage_totals`, `usage_daily`) and of the funding planner
  (`credit_spend`). Every filter of the report is a dimension of the aggregates except the
  user: per user the rows would be about as many as the records, so a user filter reads the
  records of the users it matches, through the `usage_org_user_time` index.

Records are never deleted, and nothing changes a summed column or a dimension after insert
(overage invoicing only sets `overage_invoice`); `verify_ledger` would name any drift.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from credits_portal.models import Organisation
from licensing.models import DirectoryUser
from usage.models import CallType, DailyUsage, FundedBy, UsageRecord
from usage.services.locks import lock_usage_of
from usage.services.spend_cache import spend_changed

KEY = ("organisation_id", "day", "kind", "type", "funded_by", "domestic", "to_country")
SUMS = ("count", "units", "plan_minutes", "duration_seconds", "charge")
# The unnest arrays' types, KEY's then SUMS'.
_TYPES = ("bigint", "date", "text", "text", "text", "boolean", "text")
_TYPES += ("integer", "bigint", "bigint", "bigint", "numeric")
_COLUMNS = ", ".join(KEY + SUMS)

_ADD_SQL = f"""
    INSERT INTO usage_dailyusage ({_COLUMNS})
    SELECT * FROM unnest({", ".join(f"%s::{t}[]" for t in _TYPES)})
    ORDER BY 1, 2, 3, 4, 5, 6, 7
    ON CONFLICT ({", ".join(KEY)}) DO UPDATE SET
    {", ".join(f"{s} = usage_dailyusage.{s} + EXCLUDED.{s}" for s in SUMS)}
"""  # noqa: S608  (column names only: the values are parameters)

# The records' side of the aggregates, grouped by the same key (`day` is the UTC day).
_FROM_RECORDS = """
    SELECT organisation_id, (started_at AT TIME ZONE 'UTC')::date AS day, kind, type, funded_by,
           domestic, to_country, COUNT(*) AS count, SUM(units) AS units,
           SUM(plan_minutes) AS plan_minutes, SUM(duration_seconds) AS duration_seconds,
           SUM(charge) AS charge
    FROM usage_usagerecord {where}
    GROUP BY 1, 2, 3, 4, 5, 6, 7
"""


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def aggregates_add(*, records: Iterable) -> int:
    """Add records just inserted (objects with UsageRecord's column attributes) to their days'
    aggregates, in the caller's transaction: one upsert, keys in order so that concurrent
    batches lock the rows they share in the same order. The aggregate rows written."""
    sums: dict[tuple, list] = {}
    for r in records:
        key = (
            r.organisation_id,
            _day(r.started_at),
            r.kind,
            r.type,
            r.funded_by,
            r.domestic,
            r.to_country,
        )
        row = sums.setdefault(key, [0, 0, 0, 0, Decimal(0)])
        row[0] += 1
        row[1] += r.units
        row[2] += r.plan_minutes
        row[3] += r.duration_seconds
        row[4] += r.charge
    if not sums:
        return 0
    rows = [key + tuple(values) for key, values in sorted(sums.items())]
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(_ADD_SQL, [list(column) for column in zip(*rows, strict=True)])
        spend_changed(key[0] for key in sums)
    return len(rows)


def aggregates_rebuild(*, organisation: Organisation) -> int:
    """Recompute the organisation's aggregates from its records; the aggregate rows written."""
    with transaction.atomic():
        # Ingest adds a batch's records and their aggregates under this lock: none lands between
        # the delete and the insert below, and none is counted twice.
        lock_usage_of(organisation)
        spend_changed([organisation.pk])
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM usage_dailyusage WHERE organisation_id = %s", [organisation.pk]
            )
            cursor.execute(
                f"INSERT INTO usage_dailyusage ({_COLUMNS}) "
                + _FROM_RECORDS.format(where="WHERE organisation_id = %s")
                + " ORDER BY 1, 2, 3, 4, 5, 6, 7",
                [organisation.pk],
            )
            return cursor.rowcount


# Checked by `verify_ledger` beside the ledger's own rules (registered in usage/apps.py).
AGGREGATE_CHECKS: list[tuple[str, str]] = [
    (
        "the daily usage aggregates equal the records",
        f"""
        SELECT o.slug, 'day ' || d.day || ' ' || d.type || ' ' || d.funded_by
               || CASE WHEN d.domestic THEN ' domestic ' ELSE ' international ' END
               || d.to_country || ': aggregated ' || COALESCE(d.a_sums, '(none)')
               || ' but the records sum to ' || COALESCE(d.r_sums, '(none)')
        FROM (
            SELECT {", ".join(KEY)},
                   CASE WHEN r.count IS NOT NULL THEN (r.count, r.units, r.plan_minutes,
                        r.duration_seconds, r.charge)::text END AS r_sums,
                   CASE WHEN a.count IS NOT NULL THEN (a.count, a.units, a.plan_minutes,
                        a.duration_seconds, a.charge)::text END AS a_sums
            FROM ({_FROM_RECORDS.format(where="")}) r
            FULL JOIN usage_dailyusage a USING ({", ".join(KEY)})
        ) d
        JOIN credits_portal_organisation o ON o.id = d.organisation_id
        WHERE d.r_sums IS DISTINCT FROM d.a_sums
              {{organisation_filter}}
        """,  # noqa: S608  (column names only)
    ),
]


@dataclass(frozen=True)
class UsageSlice:
    """The records the report's filters select, as the aggregates answer them: one
    organisation's calls or messages of the UTC days `start` to `end`, and the dimensions."""

    organisation_id: int
    kind: str
    start: date
    end: date
    type: str = ""
    direction: str = ""  # "inbound" (toll-free dial-in) or "outbound" (the rest)
    domestic: bool | None = None
    country: str = ""
    funded_by: str = ""
    user: str = ""  # a part of the users' UPN or display name
    nothing: bool = False  # filters that do not hold select nothing

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def report_slice(filters, *, organisation: Organisation, kind: str) -> UsageSlice:
    """The slice a bound `usage.filters.UsageFilter` selects (its `qs` already read); nothing
    when its filters do not hold."""
    today = timezone.now().date()
    if not filters.is_valid():
        return UsageSlice(organisation.pk, kind, today, today, nothing=True)
    data = filters.form.cleaned_data
    start, end = getattr(filters, "period", (today, today))
    domestic = {"yes": True, "no": False}.get(data.get("domestic") or "")
    return UsageSlice(
        organisation.pk,
        kind,
        start,
        end,
        type=data.get("type") or "",
        direction=data.get("direction") or "",
        domestic=domestic,
        country=data.get("country") or "",
        funded_by=data.get("funded_by") or "",
        user=(data.get("user") or "").strip(),
    )


def _narrowed(queryset: QuerySet, where: UsageSlice) -> QuerySet:
    """The dimensions' filters, the same on the aggregates and on the records."""
    lookups = {"organisation_id": where.organisation_id, "kind": where.kind}
    if where.type:
        lookups["type"] = where.type
    if where.domestic is not None:
        lookups["domestic"] = where.domestic
    if where.country:
        lookups["to_country"] = where.country
    if where.funded_by:
        lookups["funded_by"] = where.funded_by
    queryset = queryset.filter(**lookups)
    inbound = Q(type=CallType.TOLL_FREE_DIAL_IN)
    if where.direction == "inbound":
        queryset = queryset.filter(inbound)
    elif where.direction == "outbound":
        queryset = queryset.exclude(inbound)
    return queryset.order_by()


def _source(where: UsageSlice) -> tuple[QuerySet, bool] | None:
    """(the aggregates or, for a user filter, the matched users' records; whether records),
    or None when the slice selects nothing."""
    if where.nothing:
        return None
    if not where.user:
        rows = DailyUsage.objects.filter(day__gte=where.start, day__lte=where.end)
        return _narrowed(rows, where), False
    users = list(
        DirectoryUser.objects.filter(organisation_id=where.organisation_id)
        .filter(Q(upn__icontains=where.user) | Q(display_name__icontains=where.user))
        .values_list("pk", flat=True)
    )
    if not users:
        return None
    records = UsageRecord.objects.filter(
        user_id__in=users,
        started_at__gte=datetime.combine(where.start, time.min, UTC),
        started_at__lt=datetime.combine(where.end + timedelta(days=1), time.min, UTC),
    )
    return _narrowed(records, where), True


MONEY = ("credits", "overage", "charge")


def usage_totals(*, where: UsageSlice) -> dict:
    """The slice's count, billed units, plan minutes, seconds, and charges (from credits, as
    overage, in all)."""
    found: dict = {}
    if (source := _source(where)) is not None:
        rows, records = source
        found = rows.aggregate(
            count=Count("id") if records else Sum("count"),
            units=Sum("units"),
            plan_minutes=Sum("plan_minutes"),
            duration_seconds=Sum("duration_seconds"),
            credits=Sum("charge", filter=Q(funded_by=FundedBy.CREDITS)),
            overage=Sum("charge", filter=Q(funded_by=FundedBy.OVERAGE)),
            charge=Sum("charge"),
        )
    keys = ("count", "units", "plan_minutes", "duration_seconds", *MONEY)
    return {key: found.get(key) or (Decimal(0) if key in MONEY else 0) for key in keys}


def usage_daily(*, where: UsageSlice) -> list[tuple[date, Decimal, int]]:
    """(day, credit spend, billed units) of the slice for each of its days, zeros included."""
    found: dict = {}
    if (source := _source(where)) is not None:
        rows, records = source
        if records:
            rows = rows.annotate(day_of=TruncDate("started_at", tzinfo=UTC)).values("day_of")
        else:
            rows = rows.values("day")
        for row in rows.annotate(
            sum_units=Sum("units"), spend=Sum("charge", filter=Q(funded_by=FundedBy.CREDITS))
        ):
            day = row["day_of"] if records else row["day"]
            found[day] = (row["spend"] or Decimal(0), row["sum_units"] or 0)
    return [(day, *found.get(day, (Decimal(0), 0))) for day in where.days]


def credit_spend(*, organisation: Organisation, windows: Iterable[int], today: date) -> dict:
    """Credits spent in each window of the last N UTC days, today included (the report's "last N
    days"), from one query: {N: amount}."""
    windows = sorted(set(windows))
    firsts = {n: today - timedelta(days=n - 1) for n in windows}
    sums = (
        DailyUsage.objects.filter(
            organisation=organisation,
            funded_by=FundedBy.CREDITS,
            day__gte=min(firsts.values()),
        )
        .order_by()
        .aggregate(**{f"d{n}": Sum("charge", filter=Q(day__gte=firsts[n])) for n in windows})
    )
    return {n: sums[f"d{n}"] or Decimal(0) for n in windows}
