"""Version tokens in the shared cache, keys for what processes derive and keep (a rate card, pool
sizes, a caller's licenses). A token is random, never a counter: after Redis loses a key
(restart, eviction) the next token cannot repeat one that a process still holds data under.

While Redis does not answer (credits_portal.cache), a token is this second's: what is derived
under it is counted from the database again each second, as fresh as a token read a second ago.
A change made meanwhile renews its token as soon as Redis answers again, so no process goes on
using what it derived before the outage."""

from __future__ import annotations

import threading
import time
import uuid

from django.core.cache import cache
from django.db import transaction

from credits_portal.cache import OUTAGE

_SEEN: dict[str, tuple[float, str]] = {}  # this process: key -> (read at, token)
_PENDING: set[str] = set()  # keys changed while Redis did not answer, to renew when it does
_PENDING_LOCK = threading.Lock()


def version_of(key: str, *, max_age: float = 0) -> str:
    """The current token; with `max_age`, one this process read at most that many seconds ago
    (for the call path, where a second's delay is worth a round trip saved)."""
    now = time.monotonic()
    seen = _SEEN.get(key)
    if seen is not None and now - seen[0] < max_age:
        return seen[1]
    _renew_pending()
    token = cache.get(key)
    if token is None:
        cache.add(key, uuid.uuid4().hex, None)
        token = cache.get(key)
    if token is None:  # Redis does not answer
        token = f"no-redis:{int(time.time())}"
    if len(_SEEN) > 100_000:
        _SEEN.clear()
    _SEEN[key] = (now, token)
    return token


def version_changed(key: str) -> None:
    """A new token now and again after the commit, so that data derived in between (from the
    rows before the commit) is not kept under the final token."""

    def renew() -> None:
        _renew(key)
        _SEEN.pop(key, None)

    renew()
    transaction.on_commit(renew)


def _renew(key: str) -> None:
    cache.set(key, uuid.uuid4().hex, None)
    if OUTAGE.down:
        with _PENDING_LOCK:
            _PENDING.add(key)


def _renew_pending() -> None:
    if not _PENDING or OUTAGE.waiting():
        return
    with _PENDING_LOCK:
        keys = list(_PENDING)
        _PENDING.clear()
    for key in keys:
        _renew(key)
