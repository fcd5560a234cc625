from __future__ import annotations

import pytest

from credits_portal import process_cache
from credits_portal.process_cache import ProcessCache


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        now = 1_000.0

        def shift(self, seconds: float) -> None:
            self.now += seconds

    clock = Clock()
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: clock.now)
    monkeypatch.setattr(process_cache.time, "time", lambda: clock.now)
    return clock


def counter():
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    return calls, compute


def test_a_value_is_kept_under_its_version_and_derived_again_under_a_new_one():
    cache = ProcessCache("test versions", cap=10)
    calls, compute = counter()
    assert cache.get("k", compute, version="v1") == 1
    assert cache.get("k", compute, version="v1") == 1
    assert cache.get("k", compute, version="v2") == 2
    assert len(calls) == 2 and len(cache) == 1  # the old version's copy is replaced, not kept


def test_a_value_older_than_its_age_is_derived_again(clock):
    cache = ProcessCache("test ages", cap=10, max_age=60)
    _, compute = counter()
    assert cache.get("k", compute) == 1
    clock.shift(59)
    assert cache.get("k", compute) == 1
    assert cache.get("k", compute, max_age=0) == 2  # this call asks for a fresh one
    clock.shift(61)
    assert cache.get("k", compute) == 3


def test_a_stamped_value_is_as_old_as_its_stamp(clock):
    cache = ProcessCache("test stamps", cap=10, max_age=60, stamp=lambda kept: kept[0])
    assert cache.get("k", lambda: (950.0, "shared")) == (950.0, "shared")
    clock.shift(10)  # counted 60 s ago, elsewhere: too old although kept here only 10 s
    assert cache.get("k", lambda: (1_010.0, "fresh")) == (1_010.0, "fresh")


def test_past_its_cap_the_cache_starts_again():
    cache = ProcessCache("test cap", cap=2)
    for key in ("a", "b", "c"):
        cache.get(key, lambda: 0)
    assert len(cache) == 1 and "c" in cache


def test_clear_all_forgets_every_cache():
    first, second = ProcessCache("test one", cap=5), ProcessCache("test two", cap=5)
    first.get("a", lambda: 1)
    second.get("b", lambda: 2)
    process_cache.clear_all()
    assert len(first) == len(second) == 0
