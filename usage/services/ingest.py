"""Usage records from the platform: rated, funded and stored, a batch in one transaction.

Each record is checked on its own (a bad one is `rejected` with a reason, the good ones beside it
go through) and is idempotent by its `id`: under the organisation's usage lock
(usage/services/locks.py) the batch learns which ids were already recorded (`duplicate`, charged
nothing again) and inserts the rest with one statement; the credit-funded ones are debited
together (`funds_debit_many`) under the account's row lock, one ledger reference per record.

A record that names a valid authorization (one of this organisation's, open, or expired no
longer ago than ingest takes records; not used by another record) is always rated, within what
the authorization held: its own held minutes first (the hold is settled in the same transaction:
they move from held to used), then whatever else its pool has free, then credits or overage;
what credits cannot cover is debt. Records without one are rated as before, and refused when nothing may fund them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from billing.models import Reservation
from billing.money import round_money
from billing.services.ledger import DebitLine, funds_debit_many, lock_account_of
from billing.services.reservations import reservations_close
from credits_portal.db import copy_rows
from credits_portal.models import Organisation
from licensing.selectors import holders_of
from usage.models import CallType, FundedBy, MinuteHold, PoolUsage, UsageRecord
from usage.services import rating
from usage.services.aggregates import aggregates_add
from usage.services.holds import holds_authorizing, holds_settle, late_record
from usage.services.ingest_parse import Parsed, Rejected, Window, clean_record_id, parse_record
from usage.services.locks import lock_usage_of
from usage.services.pool_alerts import pool_alerts_check
from usage.services.pools import PoolSizes, month_of, pool_sizes_now
from usage.services.rates import RateTable

MAX_BATCH = 1000
CALL_TYPE_LABELS = dict(CallType.choices)


@dataclass
class Result:
    id: str
    status: str
    error: str = ""
    charge: str | None = None
    currency: str | None = None
    funded_by: str | None = None
    plan_minutes: int | None = None

    def as_dict(self) -> dict:
        if self.status == "rejected":
            return {"id": self.id, "status": "rejected", "error": self.error}
        return {
            "id": self.id,
            "status": self.status,
            "charge": self.charge,
            "currency": self.currency,
            "funded_by": self.funded_by,
            "plan_minutes": self.plan_minutes,
        }


class _Rated(NamedTuple):
    """A rated record as its row (the column order of the COPY that inserts the batch)."""

    organisation_id: int
    record_id: str
    kind: str
    type: str
    user_id: int
    from_number: str
    to_number: str
    to_country: str
    from_country: str
    domestic: bool
    started_at: datetime
    duration_seconds: int
    units: int
    plan_minutes: int
    pool_category: str
    rate_per_unit: Decimal
    rate_prefix: str
    charge: Decimal
    currency: str
    funded_by: str
    capability: str
    authorization_code: str
    conference_id: str
    created_at: datetime


def _done(record: UsageRecord | _Rated, status: str) -> Result:
    # A rated record's charge is rounded to the currency already; a stored one's has 4 places.
    charge = (
        record.charge
        if isinstance(record, _Rated)
        else round_money(record.charge, str(record.currency))
    )
    return Result(
        record.record_id,
        status,
        charge=str(charge),
        currency=str(record.currency),
        funded_by=record.funded_by,
        plan_minutes=record.plan_minutes,
    )


def usage_ingest(
    *, organisation: Organisation, records: list, max_age: timedelta | None = None
) -> list[Result]:
    """Rate and record up to 1,000 records; one result per record, in order.

    `started_at` may lie at most `USAGE_MAX_AGE_DAYS` in the past; only an operator's loader
    (seed_demo) passes a longer `max_age`, never the API."""
    if len(records) > MAX_BATCH:
        raise ValueError(f"At most {MAX_BATCH} records a request.")
    now = timezone.now()
    max_age = timedelta(days=settings.USAGE_MAX_AGE_DAYS) if max_age is None else max_age
    currency = str(organisation.currency)
    results: list[Result | None] = [None] * len(records)
    parsed: list[Parsed] = []
    first_of: dict[str, int] = {}
    window = Window.of(now=now, max_age=max_age)
    for index, raw in enumerate(records):
        try:
            item = parse_record(index, raw, window=window)
        except Rejected as exc:
            results[index] = Result(clean_record_id(raw), "rejected", error=str(exc))
            continue
        if item.id in first_of:
            results[index] = Result(item.id, "duplicate")  # filled in below from the first one
        else:
            first_of[item.id] = index
            parsed.append(item)
    users = holders_of(organisation_id=organisation.pk, upns={p.upn for p in parsed})
    for item in parsed:
        item.user = users.get(item.upn)
        if item.user is None:
            results[item.index] = Result(
                item.id, "rejected", error="user: no such user in this organisation"
            )
    parsed = [p for p in parsed if p.user is not None]
    # The catalogue and the rate card as they are now: they decide what is charged.
    batch = _Batch(organisation, rating.rules_now(), RateTable(currency))
    with transaction.atomic():
        # The usage lock serialises this organisation's batches: the duplicate check below and
        # the insert after it cannot interleave with another batch's. The account's row lock,
        # which authorizations wait for, is taken only for the debits at the end.
        lock_usage_of(organisation)
        existing = _recorded(organisation, [p.id for p in parsed])
        codes = [p.authorization for p in parsed if p.authorization and p.id not in existing]
        batch.authorize(codes)
        batch.lock_pools(_pools_wanted(batch, [p for p in parsed if p.id not in existing]))
        new_records: list[_Rated] = []
        debits: list[DebitLine] = []
        settled: list[str] = []
        for item in parsed:
            if item.id in existing:
                results[item.index] = _done(existing[item.id], "duplicate")
                continue
            try:
                record = _rate(batch, item)
            except Rejected as exc:
                results[item.index] = Result(item.id, "rejected", error=str(exc))
                continue
            new_records.append(record)
            results[item.index] = _done(record, "rated")
            if record.funded_by == FundedBy.CREDITS and record.charge > 0:
                debits.append(
                    DebitLine(
                        record.charge,
                        UsageRecord.reference_for(record.record_id),
                        f"{CALL_TYPE_LABELS[record.type]} to {record.to_number}, "
                        f"{record.charge:,} {currency}",  # rounded to the currency at rating
                    )
                )
            if item.authorization:
                settled.append(item.authorization)
        copy_rows(UsageRecord, _Rated._fields, new_records)
        aggregates_add(records=new_records)  # under the same lock: exact with the records
        holds_settle(holds=batch.settled, now=batch.now)
        batch.save_pools()
        pool_alerts_check(organisation=organisation, pools=batch.pools, now=batch.now)
        if debits or settled:
            account = lock_account_of(organisation)
            if debits:
                funds_debit_many(account=account, lines=debits)
            if settled:
                reservations_close(
                    account=account, codes=settled, status=Reservation.Status.SETTLED
                )
    for index, result in enumerate(results):
        if result is not None and result.status == "duplicate" and result.charge is None:
            results[index] = _repeat(results[first_of[result.id]])
    return results


def _recorded(organisation: Organisation, ids: list[str]) -> dict[str, UsageRecord]:
    """The records of `ids` already stored: an index-only probe first (usually none are).

    One probe of the unique index per id (the LATERAL ... LIMIT 1 asks for exactly that):
    `record_id = ANY(ids)` lets the planner scan the whole organisation instead, which it does
    while the table is small and costs 4x the probes even then."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.id FROM unnest(%s::varchar[]) AS i(id) CROSS JOIN LATERAL ("
            " SELECT 1 FROM usage_usagerecord AS r"
            " WHERE r.organisation_id = %s AND r.record_id = i.id LIMIT 1"
            ") AS found",
            [ids, organisation.pk],
        )
        found = [row[0] for row in cursor]
    if not found:
        return {}
    records = UsageRecord.objects.filter(organisation=organisation, record_id__in=found)
    return {r.record_id: r for r in records}


def _repeat(first: Result) -> Result:
    """The same id twice in one batch: the second answers as a replay of the first."""
    if first.status == "rejected":
        return first
    return Result(
        first.id,
        "duplicate",
        charge=first.charge,
        currency=first.currency,
        funded_by=first.funded_by,
        plan_minutes=first.plan_minutes,
    )


@dataclass
class _Pool:
    """One pool's row, locked for this transaction, as the batch moves its minutes."""

    pk: int
    size: int
    used: int
    held: int
    start: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        self.start = (self.used, self.held)

    @property
    def free(self) -> int:
        """Minutes neither used nor held by an authorized call."""
        return max(self.size - self.used - self.held, 0)

    @property
    def changed(self) -> bool:
        return (self.used, self.held) != self.start


@dataclass
class _Batch:
    """What every record of one batch is rated with: the rules and the card as they are now,
    the pools' rows and the authorizations the batch may use."""

    organisation: Organisation
    rules: rating.Rules
    rates: RateTable
    pools: dict[tuple, _Pool] = field(default_factory=dict)
    now: datetime = field(default_factory=timezone.now)
    holds: dict[str, MinuteHold] = field(default_factory=dict)
    authorized: set[str] = field(default_factory=set)
    settled: list[MinuteHold] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.currency = str(self.organisation.currency)

    def authorize(self, codes: list[str]) -> None:
        """The authorizations these codes name that may still fund a record: the minute holds
        (locked before any pool) and the credit reservations of this organisation."""
        self.holds = holds_authorizing(organisation=self.organisation, codes=codes, now=self.now)
        reservations = Reservation.objects.filter(
            account__organisation=self.organisation, code__in=codes
        ).filter(
            Q(status=Reservation.Status.OPEN)
            | Q(status=Reservation.Status.RELEASED, expires_at__gt=self.now - late_record())
        )
        self.authorized = set(self.holds) | set(reservations.values_list("code", flat=True))

    @cached_property
    def sizes(self) -> PoolSizes:
        """Every pool's size, counted once for the batch."""
        return pool_sizes_now(self.organisation)

    def lock_pools(self, keys: set[tuple]) -> None:
        """The rows of these pools (month, category, country), made where missing and locked
        in one statement, in primary-key order."""
        keys -= self.pools.keys()
        if not keys:
            return
        sizes = self.sizes  # counted before the rows are locked: plan-funded calls wait for them
        organisation = self.organisation
        PoolUsage.objects.bulk_create(
            [
                PoolUsage(organisation=organisation, month=m, category=c, country=k)
                for m, c, k in keys
            ],
            ignore_conflicts=True,
        )
        wanted = Q()
        for month, category, country in keys:
            wanted |= Q(month=month, category=category, country=country)
        rows = PoolUsage.objects.filter(wanted, organisation=organisation).order_by("pk")
        for row in rows.select_for_update():
            size = sizes.size(row.category, row.country)
            self.pools[(row.month, row.category, row.country)] = _Pool(
                row.pk, size, row.used, row.held
            )

    def save_pools(self) -> None:
        """The minutes the batch moved, written back to the changed pools in one statement."""
        changed = [pool for pool in self.pools.values() if pool.changed]
        if not changed:
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE usage_poolusage AS p SET used = v.used, held = v.held"
                " FROM unnest(%s::bigint[], %s::integer[], %s::integer[]) AS v(id, used, held)"
                " WHERE p.id = v.id",
                [[p.pk for p in changed], [p.used for p in changed], [p.held for p in changed]],
            )

    def pool(self, month, category: str, country: str) -> _Pool:
        """The pool's row, made if need be and locked for this transaction."""
        key = (month, category, country)
        if key not in self.pools:
            self.lock_pools({key})
        return self.pools[key]


def _pools_wanted(batch: _Batch, items: list[Parsed]) -> set[tuple]:
    """The pools the plans of these records' users may draw on: locked together before rating
    (a record with an authorization locks what it needs as it is rated)."""
    wanted = set()
    for item in items:
        if item.authorization or not rating.billed_units(item.kind, item.duration):
            continue
        user_country = item.user.usage_location
        category = rating.category_of(item.type, user_country, item.destination.country)
        if batch.rules.plan_covers(category, batch.rules.held(item.user.skus)):
            country = user_country if category == PoolUsage.Category.DOMESTIC else ""
            wanted.add((month_of(item.started_at), category, country))
    return wanted


def _rate(batch: _Batch, item: Parsed) -> _Rated:
    organisation, rules, rates = batch.organisation, batch.rules, batch.rates
    currency = batch.currency
    skus = rules.held(item.user.skus)
    user_country = item.user.usage_location
    to_country = item.destination.country
    rate = rates.find(item.type, item.destination.e164)
    if rate is None:
        raise Rejected("destination_not_rated: no rate for this destination")
    units = rating.billed_units(item.kind, item.duration)
    category = rating.category_of(item.type, user_country, to_country)
    authorized = item.authorization in batch.authorized
    hold = batch.holds.get(item.authorization) if authorized else None
    country = user_country if category == PoolUsage.Category.DOMESTIC else ""
    own: _Pool | None = None  # the pool of the minutes the call's authorization holds
    if hold is not None and hold.status == MinuteHold.Status.OPEN:
        own = batch.pool(hold.pool.month, hold.pool.category, hold.pool.country)
    # Held minutes pay only for a call of their own pool (the record may report another).
    fits = own is not None and (hold.pool.category, hold.pool.country) == (category, country)
    held = min(units, hold.minutes) if fits else 0
    free: _Pool | None = None  # the pool the call may take unheld minutes from
    extra = 0
    if units > held and rules.plan_covers(category, skus):
        free = batch.pool(month_of(item.started_at), category, country)
        extra = min(units - held, free.free)
    plan = held + extra
    capability = rules.plan_license(category, skus) if category else ""
    capability = capability or ("AUTHORIZATION" if held else "")
    rest = units - plan
    funded_by = FundedBy.PLAN_MINUTES
    if rest:
        beyond = rules.after_pool(organisation, skus)
        if beyond is None and authorized:
            # An authorized call happened: what its holds do not cover is charged, into debt.
            beyond, capability = FundedBy.CREDITS, "AUTHORIZATION"
        if beyond is None:
            raise Rejected(
                "no_credits_license: beyond the plan minutes and no Communications Credits"
            )
        funded_by = beyond
        if capability != "AUTHORIZATION" and beyond == FundedBy.CREDITS:
            capability = rules.credits_license(skus)  # the license that pays from credits
        elif capability != "AUTHORIZATION":
            capability = capability or "OVERAGE"
    # Rated: from here on, the record takes what it uses.
    if authorized:
        batch.authorized.discard(item.authorization)  # one record per authorization
    if hold is not None:
        batch.settled.append(hold)
    if own is not None:
        own.held -= hold.minutes
        own.used += held
    if free is not None:
        free.used += extra
    return _Rated(
        organisation_id=organisation.pk,
        record_id=item.id,
        kind=item.kind,
        type=item.type,
        user_id=item.user.id,
        from_number=item.source.e164,
        to_number=item.destination.e164,
        to_country=to_country,
        from_country=item.source.country,
        domestic=to_country == user_country,
        started_at=item.started_at,
        duration_seconds=item.duration,
        units=units,
        plan_minutes=plan,
        pool_category=category or "",
        rate_per_unit=rate.rate_per_unit,
        rate_prefix=rate.prefix,
        charge=round_money(rest * rate.rate_per_unit, currency),
        currency=currency,
        funded_by=funded_by,
        capability=capability,
        authorization_code=item.authorization,
        conference_id=item.conference,
        created_at=batch.now,
    )
