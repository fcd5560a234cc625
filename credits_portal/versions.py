"""Version tokens in the shared cache, keys for what processes derive and keep (a rate card, pool
sizes). A token is random, never a counter: after Redis loses a key (restart, eviction) the next
token cannot repeat one that a process still holds data under."""

from __future__ import annotations

import uuid

from django.core.cache import cache
from django.db import transaction


def version_of(key: str) -> str:
    token = cache.get(key)
    if token is None:
        cache.add(key, uuid.uuid4().hex, None)
        token = cache.get(key)
    return token


def version_changed(key: str) -> None:
    """A new token now and again after the commit, so that data derived in between (from the
    rows before the commit) is not kept under the final token."""

    def renew() -> None:
        cache.set(key, uuid.uuid4().hex, None)

    renew()
    transaction.on_commit(renew)
