"""The funding planner's credit spend, kept in Django's cache (Redis) between ingests.

Each organisation has a version in the cache, a fresh token written when its usage changes (by
an ingest batch adding its aggregates and by a rebuild), both then and on commit. The spend is
kept under (organisation, UTC day, windows, version), so an ingest is seen on the very next load
and a writer that computed the spend before the change lands only under the old version. Redis
is a cache, never the truth: when it does not answer (`credits_portal.cache.OUTAGE`) the spend
is computed from the aggregates; an entry lives `TTL` seconds at most, which bounds what a bump
lost to an outage can leave stale."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import date

from django.core.cache import cache
from django.db import transaction

TTL = 300  # seconds


def _version_key(organisation_id: int) -> str:
    return f"usage:spend-version:{organisation_id}"


def _bump(ids: list[int]) -> None:
    cache.set_many({_version_key(i): uuid.uuid4().hex for i in ids}, None)


def spend_changed(organisation_ids: Iterable[int]) -> None:
    """The organisations' usage changes in the current transaction: new versions now and again on
    commit (a load between the two kept the spend before the change under the first one)."""
    ids = sorted(set(organisation_ids))
    if ids:
        _bump(ids)
        transaction.on_commit(lambda: _bump(ids))


def spend_cached(
    *, organisation_id: int, today: date, windows: tuple[int, ...], compute: Callable[[], dict]
) -> dict:
    """`compute()` for the organisation's current version and day, from the cache when kept."""
    version = cache.get(_version_key(organisation_id))
    if version is None:  # never changed since Redis started, or Redis is down: start a version
        cache.add(_version_key(organisation_id), uuid.uuid4().hex, None)
        version = cache.get(_version_key(organisation_id))
        if version is None:  # Redis does not answer: compute, keep nothing
            return compute()
    key = (
        f"usage:spend:{organisation_id}:{today.isoformat()}:{'-'.join(map(str, windows))}:{version}"
    )
    spent = cache.get(key)
    if spent is None:
        spent = compute()
        cache.set(key, spent, TTL)
    return spent
