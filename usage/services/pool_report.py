"""Reports › PSTN minute pools: each pool of a month (total, used, held, available) and, beside
them, the Communications Credits pool (balance, available, spent in the month, days of runway).

Sizes are what the licenses held now give (the catalogue keeps no history of them), for past
months too; minutes held by open authorizations exist only for the current month.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from billing.services.ledger import account_for
from billing.services.reservations import available
from credits_portal.models import Organisation
from credits_portal.validation import date_problem
from licensing.models import DirectoryUser
from usage.models import DailyUsage, FundedBy, PoolUsage
from usage.services.planner import funding_plan
from usage.services.pools import month_of, pool_size

Category = PoolUsage.Category
_MONTH = re.compile(r"(\d{4})-(\d{2})")


def month_parse(value: str | None, *, now: datetime | None = None) -> date:
    """The first day of a `YYYY-MM` month, at most the current one (UTC); the current month
    when none is given. ValueError saying what is wrong otherwise."""
    current = month_of(now or timezone.now())
    if not value:
        return current
    found = _MONTH.fullmatch(value)
    if not found or not 1 <= int(found.group(2)) <= 12:
        raise ValueError("must be a month written YYYY-MM, for example 2026-05.")
    month = date(max(int(found.group(1)), 1), int(found.group(2)), 1)
    if problem := date_problem(month):
        raise ValueError(problem)
    if month > current:
        raise ValueError(f"must not be after this month ({current:%Y-%m}).")
    return month


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


@dataclass
class PoolRow:
    category: str
    country: str
    size: int
    used: int
    held: int

    def get_category_display(self) -> str:
        return Category(self.category).label

    @property
    def available(self) -> int:
        return max(self.size - self.used - self.held, 0)

    @property
    def percent_used(self) -> int:
        return round(100 * self.used / self.size) if self.size else 0


@dataclass
class CreditsPool:
    currency: str
    balance: Decimal
    available: Decimal
    spent: Decimal  # paid from credits in the report's month
    days_left: int | None  # at the recent pace (the funding planner's)


@dataclass
class PoolReport:
    month: date
    current: bool
    rows: list[PoolRow]
    credits: CreditsPool
    chart: dict = field(default_factory=dict)

    @property
    def previous(self) -> date:
        return date(self.month.year - (self.month.month == 1), (self.month.month - 2) % 12 + 1, 1)

    @property
    def following(self) -> date | None:
        return None if self.current else next_month(self.month)


def pool_report(
    *, organisation: Organisation, month: date, now: datetime | None = None
) -> PoolReport:
    now = now or timezone.now()
    current = month == month_of(now)
    counted = {
        (p.category, p.country): p
        for p in PoolUsage.objects.filter(organisation=organisation, month=month)
    }
    countries = set(
        DirectoryUser.objects.filter(organisation=organisation).values_list(
            "usage_location", flat=True
        )
    ) | {country for category, country in counted if category == Category.DOMESTIC}
    keys = [(Category.DOMESTIC, str(c)) for c in sorted(str(c) for c in countries if c)]
    keys += [(Category.INTERNATIONAL, ""), (Category.CONFERENCE, "")]
    rows = []
    for category, country in keys:
        row = counted.get((category, country))
        used = row.used if row else 0
        held = row.held if row and current else 0
        size = pool_size(organisation, category, country)
        if size or used or held:
            rows.append(PoolRow(category, country, size, used, held))
    return PoolReport(month, current, rows, _credits(organisation, month), chart=pool_chart(rows))


def _credits(organisation: Organisation, month: date) -> CreditsPool:
    account = account_for(organisation)
    # From the daily aggregates (UTC days), calls and messages alike.
    spent = DailyUsage.objects.filter(
        organisation=organisation,
        funded_by=FundedBy.CREDITS,
        day__gte=month,
        day__lt=next_month(month),
    ).aggregate(total=Sum("charge"))["total"] or Decimal(0)
    plan = funding_plan(organisation)
    return CreditsPool(
        str(account.currency), account.balance, available(account), spent, plan.days_left
    )


def pool_chart(rows: list[PoolRow], width: int = 720, bar: int = 22, gap: int = 14) -> dict:
    """A horizontal bar per pool, by country, drawn on the server: used, held and available
    segments to scale, the figures written beside each bar (readable without hovering)."""
    label_width, text_width = 190, 0
    scale_width = width - label_width - text_width - 10
    largest = max((max(r.size, r.used + r.held) for r in rows), default=0) or 1
    bars = []
    for n, row in enumerate(rows):
        y = n * (bar + gap) + gap
        used_w = scale_width * min(row.used, largest) / largest
        held_w = scale_width * min(row.held, largest - min(row.used, largest)) / largest
        free_w = scale_width * row.available / largest
        bars.append(
            {
                "row": row,
                "y": y,
                "text_y": y + bar / 2 + 5,
                "label_y": y - 3,
                "used_x": label_width,
                "used_w": round(used_w, 1),
                "held_x": round(label_width + used_w, 1),
                "held_w": round(held_w, 1),
                "free_x": round(label_width + used_w + held_w, 1),
                "free_w": round(free_w, 1),
            }
        )
    height = len(rows) * (bar + gap) + gap
    return {
        "width": width,
        "height": max(height, bar + 2 * gap),
        "bar": bar,
        "bars": bars,
        "label_width": label_width,
    }
