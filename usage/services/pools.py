"""Minute pools: per organisation, calendar month (UTC), category and (domestic) country.

Sizes come from the licenses held now (MinuteAllotment rows of the catalogue); what was used, and
what authorized calls hold (usage.services.holds), is counted in `PoolUsage`, which a new month
starts from zero.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.core.cache import cache
from django.db import connection

from credits_portal.models import Organisation
from credits_portal.process_cache import ProcessCache
from licensing.models import DirectoryUser, MinuteAllotment, Pool, Product
from licensing.services import allotment_applies, licensing_version

Category = Pool


def month_of(moment: datetime) -> date:
    """The first day of the UTC calendar month of `moment` (whatever offset it was given in)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def _allotments(category: str) -> list[MinuteAllotment]:
    return list(MinuteAllotment.objects.filter(pool=category).select_related("product"))


def covering_skus(products: dict[str, Product]) -> dict[str, set[str]]:
    """For each pool, the licenses whose holders draw on it, and the bundles that include them
    (`products` is the catalogue, with what each includes)."""
    bundles: dict[str, set[str]] = {}
    for bundle in products.values():
        for included in bundle.includes.all():
            bundles.setdefault(included.sku, set()).add(bundle.sku)
    covering: dict[str, set[str]] = {category: set() for category in Category.values}
    for category, sku in MinuteAllotment.objects.values_list("pool", "product__sku"):
        covering[category] |= {sku} | bundles.get(sku, set())
    return covering


SIZE_SECONDS = 60  # catalogue edits (minute allotments) reach the cached sizes within this
# This process's copy of what processes share in Redis: (counted at, minutes), as old as its count.
_SIZES: ProcessCache[tuple[float, int]] = ProcessCache(
    "pool sizes", cap=10_000, max_age=SIZE_SECONDS, stamp=lambda kept: kept[0]
)


def pool_size(organisation: Organisation, category: str, country: str = "") -> int:
    """Minutes the licenses held now give this pool, as the call path and the pages see it:
    cached under the licensing version (new whenever licenses or users change, read at most a
    second ago), for at most a minute. Ingest, which charges, counts with `pool_size_now`."""
    version = licensing_version(organisation.pk, max_age=1.0)

    def shared() -> tuple[float, int]:
        key = f"pool-size:{organisation.pk}:{version}:{category}:{country}"
        now = time.time()
        kept = cache.get(key)
        if kept is None or now - kept[0] >= SIZE_SECONDS:
            kept = (now, pool_size_now(organisation, category, country))
            cache.set(key, kept, SIZE_SECONDS)
        return kept

    return _SIZES.get((organisation.pk, category, country), shared, version=version)[1]


def pool_size_now(organisation: Organisation, category: str, country: str = "") -> int:
    """Minutes the licenses held give this pool, counted from the database now."""
    allotments = _allotments(category)
    size = 0
    for allotment in allotments:
        if category == Category.DOMESTIC and not allotment_applies(allotment, country, allotments):
            continue
        products = (
            Product.objects.filter(pk=allotment.product_id) | allotment.product.included_in.all()
        )
        holders = DirectoryUser.objects.filter(
            organisation=organisation, assignments__product__in=products
        )
        if category == Category.DOMESTIC:
            holders = holders.filter(usage_location=country)
        size += holders.distinct().count() * allotment.minutes
    return size


@dataclass
class PoolSizes:
    """Every pool's size for one organisation, as `pool_size_now` counts it, from two queries:
    ingest sizes all the pools of a batch with it, whatever their number."""

    allotments: list[MinuteAllotment]
    holders: dict[tuple[int, str], int]  # (allotment, usage location): its distinct holders

    def size(self, category: str, country: str = "") -> int:
        allotments = [a for a in self.allotments if a.pool == category]
        size = 0
        for allotment in allotments:
            if category != Category.DOMESTIC:
                size += allotment.minutes * sum(
                    n for (pk, _where), n in self.holders.items() if pk == allotment.pk
                )
                continue
            # The same rule as pool_size_now: a country-specific allotment where it applies,
            # the product's general one everywhere else.
            specific = [
                a for a in allotments if a.product_id == allotment.product_id and a.countries
            ]
            if allotment.countries and not allotment.applies_to(country):
                continue
            if not allotment.countries and any(a.applies_to(country) for a in specific):
                continue
            size += allotment.minutes * self.holders.get((allotment.pk, country), 0)
        return size


_HOLDERS_SQL = """
SELECT covering.allotment_id, u.usage_location, COUNT(DISTINCT u.id)
FROM (
    SELECT id AS allotment_id, product_id FROM licensing_minuteallotment
    UNION
    SELECT m.id, i.from_product_id FROM licensing_minuteallotment m
    JOIN {includes} i ON i.to_product_id = m.product_id
) AS covering
JOIN licensing_assignment a ON a.product_id = covering.product_id
JOIN licensing_directoryuser u ON u.id = a.user_id
WHERE u.organisation_id = %s
GROUP BY covering.allotment_id, u.usage_location
"""


def pool_sizes_now(organisation: Organisation) -> PoolSizes:
    """Every pool's size counted from the database now (what `pool_size_now` gives each): the
    holders of each allotment's license, or of a bundle including it, per usage location."""
    allotments = list(MinuteAllotment.objects.all())
    includes = Product.includes.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(_HOLDERS_SQL.format(includes=includes), [organisation.pk])
        holders = {(pk, where): count for pk, where, count in cursor}
    return PoolSizes(allotments, holders)


@dataclass
class Pool:
    category: str
    country: str
    size: int
    used: int
    held: int = 0  # by authorized calls whose records have not come yet

    def get_category_display(self) -> str:
        return Category(self.category).label

    @property
    def left(self) -> int:
        return max(self.size - self.used - self.held, 0)


def pool_state(organisation: Organisation, category: str, country: str, month: date) -> Pool:
    country = country if category == Category.DOMESTIC else ""
    # Plain SQL: authorization asks this on every call a plan may cover.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT used, held FROM usage_poolusage"
            " WHERE organisation_id = %s AND month = %s AND category = %s AND country = %s",
            [organisation.pk, month, category, country],
        )
        used, held = cursor.fetchone() or (0, 0)
    return Pool(category, country, pool_size(organisation, category, country), used, held)


def pools_this_month(organisation: Organisation, month: date) -> list[Pool]:
    """Every pool the organisation has this month (for the pages): domestic per usage location.
    Two queries whatever the number of pools (the usage locations, the month's pool usage);
    each pool as `pool_state` gives it."""
    countries = sorted(
        DirectoryUser.objects.filter(organisation=organisation)
        .order_by()
        .values_list("usage_location", flat=True)
        .distinct()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT category, country, used, held FROM usage_poolusage"
            " WHERE organisation_id = %s AND month = %s",
            [organisation.pk, month],
        )
        usage = {(category, country): (used, held) for category, country, used, held in cursor}
    keys = [(Category.DOMESTIC, c) for c in countries] + [
        (c, "") for c in (Category.INTERNATIONAL, Category.CONFERENCE)
    ]
    pools = [
        Pool(
            category,
            country,
            pool_size(organisation, category, country),
            *usage.get((category, country), (0, 0)),
        )
        for category, country in keys
    ]
    return [p for p in pools if p.size or p.used]
