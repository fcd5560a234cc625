"""The rules of DESIGN.md "Rating usage" that authorization and ingest share."""

from __future__ import annotations

import math
import time

from credits_portal.models import Organisation
from licensing.models import Assignment, DirectoryUser
from licensing.services import catalogue, effective_skus
from usage.models import CallType, FundedBy, PoolUsage
from usage.services.pools import covering_skus

Category = PoolUsage.Category
_CACHE: dict[str, tuple[float, object]] = {}
CACHE_SECONDS = 60


def _cached(key: str, build):
    # The catalogue changes when an operator edits it, not per call: a minute's cache is enough.
    now = time.monotonic()
    hit = _CACHE.get(key)
    if hit is None or now - hit[0] > CACHE_SECONDS:
        hit = (now, build())
        _CACHE[key] = hit
    return hit[1]


def products():
    return _cached("catalogue", catalogue)


def held(skus: frozenset[str]) -> frozenset[str]:
    """What these assigned SKUs amount to, bundles expanded (for the catalogue of the minute)."""
    key = "held:" + ",".join(sorted(skus))
    return _cached(key, lambda: frozenset(effective_skus(set(skus), products())))


def pool_licenses(category: str) -> set[str]:
    return _cached(f"covering:{category}", lambda: covering_skus(category))


def licenses_of(users: list[DirectoryUser]) -> dict[int, set[str]]:
    """Each user's effective licenses (bundles expanded), in one query."""
    held: dict[int, set[str]] = {u.pk: set() for u in users}
    for user_id, sku in Assignment.objects.filter(user__in=users).values_list(
        "user_id", "product__sku"
    ):
        held[user_id].add(sku)
    catalogue_now = products()
    return {pk: effective_skus(skus, catalogue_now) for pk, skus in held.items()}


def category_of(call_type: str, user_country: str, to_country: str) -> str | None:
    if call_type == CallType.OUTBOUND:
        return (
            Category.DOMESTIC
            if to_country and to_country == user_country
            else Category.INTERNATIONAL
        )
    if call_type == CallType.CONFERENCE_DIAL_OUT:
        return Category.CONFERENCE
    return None  # toll-free dial-in and SMS are never covered by a pool


def license_refusal(call_type: str, skus: set[str]) -> str | None:
    """`no_license` when the user holds nothing that makes this kind of call at all."""
    needs = (
        "AUDIO_CONF"
        if call_type in (CallType.CONFERENCE_DIAL_OUT, CallType.TOLL_FREE_DIAL_IN)
        else "PHONE_SYSTEM"
    )
    return None if needs in skus else "no_license"


def plan_covers(category: str | None, skus: set[str]) -> bool:
    return category is not None and bool(skus & pool_licenses(category))


def after_pool(organisation: Organisation, skus: set[str]) -> str | None:
    """What pays beyond the pool: credits (legacy commerce with the license), overage (new
    commerce), or nothing."""
    if organisation.commerce == Organisation.Commerce.NEW:
        return FundedBy.OVERAGE
    return FundedBy.CREDITS if "COMMS_CREDITS" in skus else None


def billed_units(kind: str, duration_seconds: int) -> int:
    return 1 if kind == "sms" else max(math.ceil(duration_seconds / 60), 0)


def plan_license(category: str, skus: set[str]) -> str:
    held = sorted(skus & pool_licenses(category))
    return held[0] if held else ""
