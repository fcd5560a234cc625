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
from credits_portal.process_cache import ProcessCache, also_clear

_SEEN: ProcessCache[str] = ProcessCache("version tokens", cap=100_000)  # key -> token
_PENDING: set[str] = set()  # keys changed while Redis did not answer, to renew when it does
_PENDING_LOCK = threading.Lock()
also_clear(_PENDING.clear)


def version_of(key: str, *, max_age: float = 0) -> str:
    """The current token; with `max_age`, one this process read at most that many seconds ago
    (for the call path, where a second's delay is worth a round trip saved)."""
    return _SEEN.get(key, lambda: _read(key), max_age=max_age)


def _read(key: str) -> str:
    _renew_pending()
    token = cache.get(key)
    if token is None:
        cache.add(key, uuid.uuid4().hex, None)
        token = cache.get(key)
    if token is None:  # Redis does not answer
        token = f"no-redis:{int(time.time())}"
    return token


def version_changed(key: str) -> None:
    """A new token now and again after the commit, so that data derived in between (from the
    rows before the commit) is not kept under the final token."""

    def renew() -> None:
        _renew(key)
        _SEEN.forget(key)

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
