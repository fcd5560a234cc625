"""Minute holds: the plan minutes an authorized call holds until its usage record comes.

The pool invariant (DESIGN.md "Holds"): for every pool row, `held` is the sum of its open holds'
minutes, and authorization holds `n` more minutes only while used + held + n <= size, in one
conditional statement on the pool's row, so concurrent calls never promise more minutes than the
pool has. The size is what the licenses held now give (it is computed, not stored, so it is
passed in); removing a license can shrink it below used + held, which is why `verify_ledger`
checks what it can: held = Σ open holds, and neither held nor used below zero.

Lock order, so that no two of these wait on each other in a cycle: ingest locks its holds, then
their pools, then (for its debits) the account (usage/services/locks.py); authorization locks
one pool, or the account, in a statement of its own, and inserts a new hold (no one else can
wait on it);
the minute task skips any pool or hold that is locked, and frees it a minute later.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from billing.services.reservations import relaxed_commit
from credits_portal.models import Organisation
from usage.models import MinuteHold


def late_record() -> timedelta:
    """How long after its authorization's holds expired a record may come and still be billed as
    an authorized call (rated, never refused for a license lost in between): as long as ingest
    takes a record at all (`USAGE_MAX_AGE_DAYS`), and a day for the call itself."""
    return timedelta(days=settings.USAGE_MAX_AGE_DAYS + 1)


_INSERT_HOLD = """
INSERT INTO usage_minutehold
    (code, organisation_id, pool_id, minutes, status, created_at, expires_at)
SELECT %(code)s, %(organisation)s, id, minutes, 'open', %(now)s,
       COALESCE(%(expires_at)s, %(now)s + %(grace)s + minutes * interval '1 minute')
FROM taken
"""

# Usually the pool has all the minutes asked for: one conditional UPDATE, as credits are held.
_HOLD_ALL_SQL = """
WITH taken AS (
    UPDATE usage_poolusage SET held = held + %(want)s
    WHERE organisation_id = %(organisation)s AND month = %(month)s AND category = %(category)s
          AND country = %(country)s AND used + held + %(want)s <= %(size)s
    RETURNING id, %(want)s AS minutes, {relaxed}
){insert}"""

# Otherwise what is left, under the row's lock; and whether the pool has a row at all.
_HOLD_LEFT_SQL = """
WITH pool AS (
    SELECT id, LEAST(%(want)s, %(size)s - used - held) AS minutes, {relaxed}
    FROM usage_poolusage
    WHERE organisation_id = %(organisation)s AND month = %(month)s AND category = %(category)s
          AND country = %(country)s AND used + held < %(size)s
    FOR UPDATE
), taken AS (
    UPDATE usage_poolusage p SET held = p.held + pool.minutes
    FROM pool WHERE p.id = pool.id
    RETURNING p.id, pool.minutes
), hold AS ({insert} RETURNING minutes)
SELECT (SELECT minutes FROM hold), EXISTS (
    SELECT 1 FROM usage_poolusage
    WHERE organisation_id = %(organisation)s AND month = %(month)s AND category = %(category)s
          AND country = %(country)s
)
"""

_POOL_ROW_SQL = """
INSERT INTO usage_poolusage (organisation_id, month, category, country, used, held)
VALUES (%(organisation)s, %(month)s, %(category)s, %(country)s, 0, 0)
ON CONFLICT (organisation_id, month, category, country) DO NOTHING
"""


def minutes_hold(
    *,
    organisation_id: int,
    code: str,
    pool: tuple[date, str, str],
    size: int,
    want: int,
    expires_at: datetime | None,
    grace: timedelta,
) -> int:
    """Hold up to `want` minutes of the pool (month, category, country) of `size` minutes for the
    authorization `code`: what is left of it at most. The minutes held, 0 when none are left.

    Each statement takes the pool's row lock, and PostgreSQL checks used + held against the size
    again on the row as the previous holder left it, so concurrent holds never exceed it. The hold
    expires at `expires_at`, or (None) when its minutes would have run out, plus `grace`.
    Committed without waiting for the disk flush, as credit reservations are (a hold, not money).
    """
    if size <= 0 or want <= 0:
        return 0
    month, category, country = pool
    params = {
        "organisation": organisation_id,
        "month": month,
        "category": category,
        "country": country,
        "size": size,
        "want": want,
        "code": code,
        "now": timezone.now(),
        "expires_at": expires_at,
        "grace": grace,
    }
    relaxed = relaxed_commit()
    with connection.cursor() as cursor:
        cursor.execute(_HOLD_ALL_SQL.format(relaxed=relaxed, insert=_INSERT_HOLD), params)
        if cursor.rowcount == 1:
            return want
        sql = _HOLD_LEFT_SQL.format(relaxed=relaxed, insert=_INSERT_HOLD)
        cursor.execute(sql, params)
        minutes, pool_exists = cursor.fetchone()
        if minutes is None and not pool_exists:
            # The first call of the month (or of several at once) makes the pool's row.
            cursor.execute(_POOL_ROW_SQL, params)
            cursor.execute(sql, params)
            minutes, _ = cursor.fetchone()
    return minutes or 0


def holds_authorizing(
    *, organisation: Organisation, codes: list[str], now: datetime
) -> dict[str, MinuteHold]:
    """The minute holds of these authorizations that still authorize a record: open ones, and
    ones released less than `late_record()` ago. Locked (in id order) for the caller's transaction,
    before it locks any pool, so that the minute task cannot release them meanwhile."""
    if not codes:
        return {}
    holds = (
        MinuteHold.objects.select_for_update(of=("self",))
        .select_related("pool")
        .filter(organisation=organisation, code__in=codes)
        .filter(
            Q(status=MinuteHold.Status.OPEN)
            | Q(status=MinuteHold.Status.RELEASED, expires_at__gt=now - late_record())
        )
        .order_by("id")
    )
    return {hold.code: hold for hold in holds}


def holds_settle(*, holds: list[MinuteHold], now: datetime) -> None:
    """Their usage records came: closed as settled. The caller, holding the pools' row locks, moves
    the minutes of the open ones out of `held` in the same transaction."""
    if holds:
        MinuteHold.objects.filter(pk__in=[h.pk for h in holds]).update(
            status=MinuteHold.Status.SETTLED, closed_at=now
        )


_RELEASE_SQL = """
WITH pools AS (
    SELECT id FROM usage_poolusage
    WHERE id IN (SELECT pool_id FROM usage_minutehold
                 WHERE status = 'open' AND expires_at <= %(cutoff)s)
    ORDER BY id FOR UPDATE SKIP LOCKED
), due AS (
    SELECT h.id FROM usage_minutehold h JOIN pools ON pools.id = h.pool_id
    WHERE h.status = 'open' AND h.expires_at <= %(cutoff)s
    ORDER BY h.id FOR UPDATE OF h SKIP LOCKED
), released AS (
    UPDATE usage_minutehold h SET status = 'released', closed_at = %(now)s
    FROM due WHERE h.id = due.id
    RETURNING h.pool_id, h.minutes
), freed AS (
    UPDATE usage_poolusage p SET held = p.held - totals.minutes
    FROM (SELECT pool_id, SUM(minutes) AS minutes FROM released GROUP BY pool_id) totals
    WHERE p.id = totals.pool_id
)
SELECT count(*) FROM released
"""


def holds_release_expired(now: datetime | None = None) -> int:
    """One statement: every open minute hold past its expiry is released and its minutes leave
    `held` (the minute task). Rows an ingest has locked are skipped: it settles them, or the
    next run releases them. The holds released."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_RELEASE_SQL, {"cutoff": now, "now": now})
        return cursor.fetchone()[0]


# Checked by `verify_ledger` beside the ledger's own rules (registered in usage/apps.py).
CHECKS: list[tuple[str, str]] = [
    (
        "held is what open minute holds hold",
        """
        SELECT o.slug, 'pool ' || p.month || ' ' || p.category || ' ' || p.country
               || ' held ' || p.held || ' but open holds hold ' || COALESCE(s.total, 0)
        FROM usage_poolusage p JOIN credits_portal_organisation o ON o.id = p.organisation_id
        LEFT JOIN (SELECT pool_id, SUM(minutes) AS total FROM usage_minutehold
                   WHERE status = 'open' GROUP BY 1) s ON s.pool_id = p.id
        WHERE p.held <> COALESCE(s.total, 0) {organisation_filter}
        """,
    ),
    (
        "a pool's used and held minutes are not negative",
        """
        SELECT o.slug, 'pool ' || p.month || ' ' || p.category || ' ' || p.country
               || ' used ' || p.used || ' held ' || p.held
        FROM usage_poolusage p JOIN credits_portal_organisation o ON o.id = p.organisation_id
        WHERE (p.used < 0 OR p.held < 0) {organisation_filter}
        """,
    ),
    (
        "a minute hold is of its own organisation's pool",
        """
        SELECT o.slug, 'hold ' || h.code || ' is of another organisation''s pool'
        FROM usage_minutehold h JOIN usage_poolusage p ON p.id = h.pool_id
        JOIN credits_portal_organisation o ON o.id = h.organisation_id
        WHERE h.organisation_id <> p.organisation_id {organisation_filter}
        """,
    ),
]
