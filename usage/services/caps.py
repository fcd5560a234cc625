"""Spend caps on the call path (issue 19): per user per UTC day and per calendar month (their own
or the organisation's default, licensing.caps) and per organisation per UTC day.

Spend counted against a cap = what the calls cost (the user's records, through the
`usage_org_user_time` index; the organisation's day from the daily aggregates, which are not per
user) plus what open authorizations may still cost (`CapHold`s whose record has not come and
that have not expired). A capped caller never takes the reservation's lock-free fast path: every
capped authorization of an organisation reads the spend and writes its hold holding the account's
row lock (`account_held`), so no two concurrent calls together pass a cap; the spend is read in
one statement, and ingest commits a record and so ends its hold's count in one transaction. A
call is refused with `cap_reached`, or its `max_seconds` shortened to what the cap leaves.

Warnings at 75 % and 90 % of a user's monthly cap, and "reached" for any cap (the `cap.reached`
event and an email), are made at most once per cap and period (`CapNotice`'s unique
constraint), when an authorization sees them; a warning counts only what calls cost, not what
open authorizations hold (a four-hour hold would "reach" a cap it mostly gives back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_UP, Decimal

from django.db import connection
from django.utils import timezone

from billing.money import format_money, quantum
from billing.services.ledger import account_for
from billing.services.notifications import notify_later
from billing.services.reservations import account_held, reservation_open
from credits_portal.events import publish
from credits_portal.models import Organisation
from credits_portal.process_cache import ProcessCache
from licensing.caps import CallCaps, caps_of_caller
from licensing.services import licensing_version
from usage.models import CapNotice, RefusalReason

WARNINGS = (CapNotice.Threshold.SEVENTY_FIVE, CapNotice.Threshold.NINETY)

# This process's copy of each caller's caps, under their organisation's licensing version: a
# change reaches authorization within a second, as a change of licenses does.
_CAPS: ProcessCache[CallCaps] = ProcessCache("call-caps", cap=100_000)


def call_caps(*, organisation_id: int, user_id: int) -> CallCaps:
    """The caps the caller's calls meet (falsy when none)."""
    return _CAPS.get(
        (organisation_id, user_id),
        lambda: caps_of_caller(organisation_id=organisation_id, user_id=user_id),
        version=licensing_version(organisation_id, max_age=1.0),
    )


@dataclass(frozen=True)
class Spend:
    """Spend of one caller: calls' cost and open holds, per the caps' periods."""

    user_day: Decimal
    user_month: Decimal
    organisation_day: Decimal
    held_user_day: Decimal
    held_user_month: Decimal
    held_organisation_day: Decimal


def _periods(now: datetime) -> tuple[date, date, datetime, datetime]:
    today = now.astimezone(UTC).date()
    month = today.replace(day=1)
    return (
        today,
        month,
        datetime.combine(today, time.min, UTC),
        datetime.combine(month, time.min, UTC),
    )


# One statement. A hold counts until a record names its authorization (the record's charge
# counts then) or it expires; the record is looked for among the user's records since a day
# before the hold, through `usage_org_user_time`.
_SPEND_SQL = """
WITH open AS (
    SELECT h.user_id, h.amount, h.created_at FROM usage_caphold h
    WHERE h.organisation_id = %(org)s AND h.expires_at > %(now)s
      AND NOT EXISTS (
          SELECT 1 FROM usage_usagerecord r
          WHERE r.organisation_id = h.organisation_id AND r.user_id = h.user_id
            AND r.started_at >= h.created_at - interval '1 day'
            AND r.authorization_code = h.code
      )
)
SELECT
    (SELECT COALESCE(SUM(charge), 0) FROM usage_usagerecord
     WHERE organisation_id = %(org)s AND user_id = %(user)s AND started_at >= %(day_start)s),
    (SELECT COALESCE(SUM(charge), 0) FROM usage_usagerecord
     WHERE organisation_id = %(org)s AND user_id = %(user)s AND started_at >= %(month_start)s),
    (SELECT COALESCE(SUM(charge), 0) FROM usage_dailyusage
     WHERE organisation_id = %(org)s AND day = %(today)s),
    (SELECT COALESCE(SUM(amount), 0) FROM open
     WHERE user_id = %(user)s AND created_at >= %(day_start)s),
    (SELECT COALESCE(SUM(amount), 0) FROM open
     WHERE user_id = %(user)s AND created_at >= %(month_start)s),
    (SELECT COALESCE(SUM(amount), 0) FROM open WHERE created_at >= %(day_start)s)
"""


def spend_of(*, organisation_id: int, user_id: int, now: datetime | None = None) -> Spend:
    """What counts against the caller's caps now (read under the account's lock to decide)."""
    now = now or timezone.now()
    today, _, day_start, month_start = _periods(now)
    with connection.cursor() as cursor:
        cursor.execute(
            _SPEND_SQL,
            {
                "org": organisation_id,
                "user": user_id,
                "now": now,
                "today": today,
                "day_start": day_start,
                "month_start": month_start,
            },
        )
        return Spend(*cursor.fetchone())


@dataclass(frozen=True)
class Capped:
    """What the caps (and, for credits, the balance) allow: `max_seconds`, or a refusal."""

    reason: str
    max_seconds: int = 0

    @property
    def allowed(self) -> bool:
        return self.reason == "ok"


def _room(caps: CallCaps, spend: Spend) -> tuple[Decimal, str]:
    """What the tightest cap leaves (never below 0), and its scope."""
    rooms = []
    if caps.daily is not None:
        rooms.append((caps.daily - spend.user_day - spend.held_user_day, "user_daily"))
    if caps.monthly is not None:
        rooms.append((caps.monthly - spend.user_month - spend.held_user_month, "user_monthly"))
    if caps.organisation_daily is not None:
        left = caps.organisation_daily - spend.organisation_day - spend.held_organisation_day
        rooms.append((left, "organisation_daily"))
    room, scope = min(rooms)
    return max(room, Decimal(0)), scope


def capped_authorize(
    *,
    organisation: Organisation,
    user_id: int,
    upn: str,
    code: str,
    per_minute: Decimal,
    pool_minutes: int,
    credits: bool,
    longest: int,
    grace: timedelta,
) -> Capped | None:
    """Authorize a call of a capped caller (credit- or overage-funded beyond `pool_minutes` of
    plan minutes it already holds; `per_minute` > 0); None, doing nothing, when no cap applies.
    The call gets the seconds the tightest cap, and for credits the available balance, leave it,
    up to `longest`; what it may cost is held against the caps (and reserved from the balance
    for credits) under the account's row lock."""
    caps = call_caps(organisation_id=organisation.pk, user_id=user_id)
    if not caps:
        return None
    upn = upn.strip().lower()
    currency = str(organisation.currency)
    now = timezone.now()
    with account_held(organisation.pk) as hold:  # serialises every capped call of the org
        spend = spend_of(organisation_id=organisation.pk, user_id=user_id, now=now)
        room, scope = _room(caps, spend)
        _warnings(organisation, upn, caps, spend, now)
        cap_minutes = int(room / per_minute)
        funds_minutes = int(hold.available / per_minute) if credits else cap_minutes
        minutes = pool_minutes + min(cap_minutes, funds_minutes)
        if minutes < 1:
            if credits and funds_minutes < 1:  # adding funds is what it needs first
                return Capped(RefusalReason.INSUFFICIENT_BALANCE)
            _reached(organisation, upn, caps, spend, scope, now)
            return Capped(RefusalReason.CAP_REACHED)
        max_seconds = min(longest, 60 * minutes)
        beyond = max_seconds - 60 * pool_minutes
        cost = (per_minute * math.ceil(max(beyond, 0) / 60)).quantize(
            quantum(currency), rounding=ROUND_UP
        )
        expires_at = now + timedelta(seconds=max_seconds) + grace
        if (counted := min(cost, room)) > 0:
            _hold(organisation.pk, user_id, code, counted, now, expires_at)
        if credits and (amount := min(cost, hold.available)) > 0:
            reservation_open(hold=hold, code=code, amount=amount, expires_at=expires_at)
        return Capped("ok", max_seconds)


def _hold(org: int, user: int, code: str, amount: Decimal, now: datetime, until: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO usage_caphold (code, organisation_id, user_id, amount, created_at,"
            " expires_at) VALUES (%s, %s, %s, %s, %s, %s)",
            [code, org, user, amount, now, until],
        )


_NOTICE_SQL = """
INSERT INTO usage_capnotice
    (organisation_id, scope, upn, period, threshold, cap, spent, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (organisation_id, scope, upn, period, threshold) DO NOTHING
RETURNING id
"""


def _notice(
    organisation: Organisation, scope: str, upn: str, threshold: int, cap, spent, now
) -> bool:
    """Record the notice once; True when this call made it (the caller then announces it)."""
    today, month, _, _ = _periods(now)
    period = month if scope == CapNotice.Scope.USER_MONTHLY else today
    who = "" if scope == CapNotice.Scope.ORGANISATION_DAILY else upn
    with connection.cursor() as cursor:
        cursor.execute(
            _NOTICE_SQL, [organisation.pk, scope, who, period, threshold, cap, spent, now]
        )
        return cursor.fetchone() is not None


def _warnings(
    organisation: Organisation, upn: str, caps: CallCaps, spend: Spend, now: datetime
) -> None:
    """75 % and 90 % of the monthly cap, by what the calls cost: each once a month."""
    cap = caps.monthly
    if not cap:
        return
    for threshold in WARNINGS:
        if spend.user_month * 100 < threshold * cap:
            continue
        if _notice(
            organisation, CapNotice.Scope.USER_MONTHLY, upn, threshold, cap, spend.user_month, now
        ):
            _email(
                organisation,
                "spend_cap_warning",
                upn,
                "user_monthly",
                cap,
                spend.user_month,
                threshold=str(int(threshold)),
            )


def _reached(
    organisation: Organisation,
    upn: str,
    caps: CallCaps,
    spend: Spend,
    scope: str,
    now: datetime,
) -> None:
    """A call was refused by `scope`'s cap: the event and the email, once per cap and period."""
    cap, spent = {
        "user_daily": (caps.daily, spend.user_day + spend.held_user_day),
        "user_monthly": (caps.monthly, spend.user_month + spend.held_user_month),
        "organisation_daily": (
            caps.organisation_daily,
            spend.organisation_day + spend.held_organisation_day,
        ),
    }[scope]
    if not _notice(organisation, scope, upn, CapNotice.Threshold.REACHED, cap, spent, now):
        return
    today, month, _, _ = _periods(now)
    period = month.isoformat()[:7] if scope == "user_monthly" else today.isoformat()
    who = "" if scope == "organisation_daily" else upn
    currency = str(organisation.currency)
    publish(
        organisation_id=organisation.pk,
        type="cap.reached",
        key=f"cap.reached:{organisation.pk}:{scope}:{who}:{period}",
        data={
            "scope": scope,
            "user": who or None,
            "period": period,
            "cap": str(cap.quantize(quantum(currency))),
            "spent": str(spent.quantize(quantum(currency))),
            "currency": currency,
        },
    )
    _email(organisation, "spend_cap_reached", who, scope, cap, spent, period=period)


_SCOPE_TEXT = {
    "user_daily": "daily spend cap",
    "user_monthly": "monthly spend cap",
    "organisation_daily": "organisation's daily spend cap",
}


def _email(organisation, kind, upn, scope, cap, spent, **extra: str) -> None:
    currency = str(organisation.currency)
    notify_later(
        account=account_for(organisation),
        kind=kind,
        user=upn,
        scope=_SCOPE_TEXT[scope],
        cap=format_money(cap, currency),
        spent=format_money(spent, currency),
        **extra,
    )


def cap_holds_purge(now: datetime | None = None) -> int:
    """Delete the cap holds that have expired (the minute task): they no longer count."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM usage_caphold WHERE expires_at <= %s", [now or timezone.now()])
        return cursor.rowcount
