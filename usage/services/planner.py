"""The funding planner: how fast credits go, when they run out, and what to set auto-recharge to."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_UP, Decimal

from django.conf import settings
from django.utils import timezone

from billing.money import quantum
from billing.services.ledger import account_for
from credits_portal.models import Organisation
from usage.services.aggregates import UsageSlice, credit_spend, usage_daily
from usage.services.pools import month_of, pools_this_month
from usage.services.spend_cache import spend_cached

WINDOWS = (7, 28, 90)


@dataclass
class Plan:
    currency: str
    balance: Decimal
    daily: dict[int, Decimal]  # average credit spend a day over the last 7, 28 and 90 days
    days_left: int | None  # at the 28-day pace; None when nothing is spent
    pools: list = field(default_factory=list)  # (pool, day it runs out or None)
    trigger: Decimal | None = None
    recharge: Decimal | None = None
    reasoning: list[str] = field(default_factory=list)


def daily_spend(organisation: Organisation, now: datetime | None = None) -> dict[int, Decimal]:
    """Average credit spend a day over each window of WINDOWS: the last 7, 28 and 90 UTC days,
    today included (the report's "last N days"), read from the daily aggregates in one query."""
    today = (now or timezone.now()).astimezone(UTC).date()
    spent = spend_cached(
        organisation_id=organisation.pk,
        today=today,
        windows=WINDOWS,
        compute=lambda: credit_spend(organisation=organisation, windows=WINDOWS, today=today),
    )
    return {days: spent[days] / days for days in WINDOWS}


def spend_rates(organisation: Organisation, now: datetime | None = None) -> dict[int, Decimal]:
    """`daily_spend` to the currency's minor unit, as the planner shows it and plans with it."""
    step = quantum(str(organisation.currency))
    return {days: spend.quantize(step) for days, spend in daily_spend(organisation, now).items()}


def spend_pace(daily: dict[int, Decimal]) -> Decimal:
    """The pace the planner plans with: the higher of the last 7 and 28 days' daily averages
    (a recent surge counts at once; a quiet week does not hide a busy month)."""
    return max(daily[7], daily[28])


def _round_up(amount: Decimal, step: Decimal) -> Decimal:
    return (amount / step).to_integral_value(rounding=ROUND_UP) * step


def funding_plan(organisation: Organisation, now: datetime | None = None) -> Plan:
    now = now or timezone.now()
    currency = str(organisation.currency)
    account = account_for(organisation)
    daily = spend_rates(organisation, now)
    pace = spend_pace(daily)
    plan = Plan(currency, account.balance, daily, None)
    if pace > 0:
        plan.days_left = max(int(account.balance / pace), 0)
    month = month_of(now)
    next_month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    elapsed_days = max(
        (now - datetime(month.year, month.month, 1, tzinfo=UTC)).total_seconds() / 86400, 1 / 24
    )
    for pool in pools_this_month(organisation, month):
        per_day = pool.used / elapsed_days
        runs_out = None
        if per_day > 0 and pool.left < per_day * (next_month - now.date()).days:
            runs_out = now.date() + timedelta(days=math.floor(pool.left / per_day))
        plan.pools.append((pool, runs_out))
    if pace > 0:
        # A week of spend in reserve triggers the recharge; each recharge buys about a month.
        step = Decimal(10)
        plan.trigger = max(_round_up(pace * 7, step), settings.PURCHASE_MIN_AMOUNT)
        plan.recharge = min(
            max(_round_up(pace * 30, step), settings.PURCHASE_MIN_AMOUNT),
            settings.PURCHASE_MAX_AMOUNT,
        )
        plan.reasoning = [
            f"Credits went at {daily[7]} {currency} a day over 7 days, {daily[28]} over 28 and {daily[90]} over 90; "
            f"the plan uses the higher of the recent paces, {pace} a day.",
            f"Trigger {plan.trigger} {currency}: about a week of spend left when a recharge starts, "
            "time enough for a declined card to be fixed before calls stop.",
            f"Recharge {plan.recharge} {currency}: about a month of spend, so recharges run roughly monthly "
            f"and stay well under the {settings.RECHARGE_MAX_PER_DAY}-a-day guard.",
        ]
    return plan


def daily_series(where: UsageSlice) -> list[tuple[date, Decimal, int]]:
    """(day, credit spend, billed units) of the slice the report's filters select, for each of
    its days, zeros included."""
    return usage_daily(where=where)


# Past these many days a bar is a week, past the second a month: a year is 13 bars, not 366.
DAILY_UP_TO = 62
WEEKLY_UP_TO = 190


def chart_series(where: UsageSlice) -> tuple[str, list[tuple[date, Decimal, int]]]:
    """("day" | "week" | "month", series): the daily series, summed into weeks (starting on
    Monday) or calendar months when the range is long, each bucket named by its first day."""
    daily = daily_series(where)
    if len(daily) <= DAILY_UP_TO:
        return "day", daily
    unit = "week" if len(daily) <= WEEKLY_UP_TO else "month"
    buckets: dict[date, tuple[Decimal, int]] = {}
    for day, spend, units in daily:
        key = day - timedelta(days=day.weekday()) if unit == "week" else day.replace(day=1)
        total_spend, total_units = buckets.get(key, (Decimal(0), 0))
        buckets[key] = (total_spend + spend, total_units + units)
    return unit, [(key, spend, units) for key, (spend, units) in buckets.items()]
