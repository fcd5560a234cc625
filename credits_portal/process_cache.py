"""What one process derives and keeps: a rate card, pool sizes, a caller's licenses.

A `ProcessCache` keeps a value per key under a version (a token from credits_portal.versions,
renewed whenever what the value was derived from changes) and, optionally, for at most an age.
A value of another version, or too old, is derived again. Past its cap the whole cache is
dropped: what old versions left behind is never asked for again. No lock: two threads deriving
the same value at once both keep a correct copy, and the last one stays.

Every cache registers itself, so that tests forget what one test left with `clear_all()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

_REGISTRY: list[Callable[[], None]] = []


class ProcessCache(Generic[V]):
    def __init__(
        self,
        name: str,
        *,
        cap: int,
        max_age: float | None = None,
        stamp: Callable[[V], float] | None = None,
    ) -> None:
        """`max_age` in seconds since the value was derived in this process (time.monotonic), or,
        with `stamp`, since the wall-clock time (time.time) `stamp(value)` says it was derived
        (for values shared between processes, such as pool sizes kept in Redis)."""
        self.name = name
        self.cap = cap
        self.max_age = max_age
        self.stamp = stamp
        self._kept: dict[Hashable, tuple[Hashable, float, V]] = {}
        _REGISTRY.append(self.clear)

    def get(
        self,
        key: Hashable,
        compute: Callable[[], V],
        *,
        version: Hashable = None,
        max_age: float | None = None,
    ) -> V:
        """The value kept for `key` under `version`, derived by `compute()` when there is none,
        or it is older than `max_age` (this call's, else the cache's)."""
        max_age = self.max_age if max_age is None else max_age
        kept = self._kept.get(key)
        if kept is not None and kept[0] == version and not self._expired(kept, max_age):
            return kept[2]
        value = compute()
        if key not in self._kept and len(self._kept) >= self.cap:
            self._kept.clear()
        self._kept[key] = (version, time.monotonic(), value)
        return value

    def _expired(self, kept: tuple[Hashable, float, V], max_age: float | None) -> bool:
        if max_age is None:
            return False
        if self.stamp is not None:
            return time.time() - self.stamp(kept[2]) >= max_age
        return time.monotonic() - kept[1] >= max_age

    def forget(self, key: Hashable) -> None:
        self._kept.pop(key, None)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._kept

    def clear(self) -> None:
        self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)


def also_clear(clear: Callable[[], None]) -> None:
    """Register other process state that `clear_all()` resets (versions' pending renewals)."""
    _REGISTRY.append(clear)


def clear_all() -> None:
    """Forget everything every process cache keeps (tests: one test's copies never reach the
    next, whose database was rolled back)."""
    for clear in _REGISTRY:
        clear()
