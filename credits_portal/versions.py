"""Version tokens in the shared cache, keys for what processes derive and keep (a rate card, pool
sizes, a caller's licenses). A token is random, never a counter: after Redis loses a key
(restart, eviction) the next token cannot repeat one that a process still holds data under."""

from __future__ import annotations

import time
import uuid

from django.core.cache import cache
from django.db import transaction

_SEEN: dict[str, tuple[float, str]] = {}  # this process: key -> (read at, token)


def version_of(key: str, *, max_age: float = 0) -> str:
    """The current token; with `max_age`, one this process read at most that many seconds ago
    (for the call path, where a second's delay is worth a round trip saved)."""
    now = time.monotonic()
    seen = _SEEN.get(key)
    if seen is not None and now - seen[0] < max_age:
        return seen[1]
    token = cache.get(key)
    if token is None:
        cache.add(key, uuid.uuid4().hex, None)
        token = cache.get(key)
    if len(_SEEN) > 100_000:
        _SEEN.clear()
    _SEEN[key] = (now, token)
    return token


def version_changed(key: str) -> None:
    """A new token now and again after the commit, so that data derived in between (from the
    rows before the commit) is not kept under the final token."""

    def renew() -> None:
        cache.set(key, uuid.uuid4().hex, None)
        _SEEN.pop(key, None)

    renew()
    transaction.on_commit(renew)
