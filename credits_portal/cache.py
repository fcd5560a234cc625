"""Django's Redis cache, keeping one client per connection pool, and surviving Redis outages.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` for every cache operation, and
redis-py's constructor builds its whole response-callback table each time: about a third of a
millisecond, several times per call authorization. A client is thread-safe and its pool survives
a fork (redis-py reopens connections in the child), so one per pool is enough.

Redis is a cache here, never the truth: whatever is kept in it can be counted again from the
database. So a command that gets no answer within the socket timeout (`REDIS_SOCKET_TIMEOUT`,
0.2 s) answers as a miss, and for `REDIS_RETRY_SECONDS` after that this process does not ask
Redis at all: an outage costs the call path one short timeout every few seconds, not one per
command. The outage is logged when it starts, once a minute while it lasts and when it ends;
`/healthz` reports it.
"""

from __future__ import annotations

import functools
import logging
import threading
import time

import redis
from django.conf import settings
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

log = logging.getLogger(__name__)
LOG_EVERY = 60.0  # seconds between the log lines of one outage


class Outage:
    """This process's view of Redis: answering, or down since when and asked again when."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.since: float | None = None  # time.time() of the first failure
        self.error = ""
        self._retry_at = 0.0  # time.monotonic() after which Redis is asked again
        self._logged_at = 0.0

    @property
    def down(self) -> bool:
        return self.since is not None

    def waiting(self) -> bool:
        """Redis failed a moment ago: answer from the fallback without asking it."""
        return self.since is not None and time.monotonic() < self._retry_at

    def failed(self, exc: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            self._retry_at = now + settings.REDIS_RETRY_SECONDS
            self.error = f"{exc.__class__.__name__}: {exc}"
            if self.since is None:
                self.since = time.time()
                self._logged_at = now
                log.warning(
                    "Redis is unreachable (%s); the call path reads the database until it "
                    "answers, asking it again every %s s",
                    self.error,
                    settings.REDIS_RETRY_SECONDS,
                )
            elif now - self._logged_at >= LOG_EVERY:
                self._logged_at = now
                log.warning(
                    "Redis still unreachable after %.0f s (%s)",
                    time.time() - self.since,
                    self.error,
                )

    def answered(self) -> None:
        if self.since is None:
            return
        with self._lock:
            if self.since is not None:
                log.warning("Redis answers again after %.0f s", time.time() - self.since)
                self.since, self.error, self._retry_at = None, "", 0.0


OUTAGE = Outage()


def _tolerant(fallback):
    """The client method, or `fallback(*args)` when Redis does not answer (or just failed)."""

    def wrap(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            if OUTAGE.waiting():
                return fallback(*args, **kwargs)
            try:
                result = method(self, *args, **kwargs)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                OUTAGE.failed(exc)
                return fallback(*args, **kwargs)
            OUTAGE.answered()
            return result

        return guarded

    return wrap


def _none(*_args, **_kwargs):
    return None


def _false(*_args, **_kwargs):
    return False


def _default(_key, default=None):
    return default


def _empty(*_args, **_kwargs):
    return {}


class _ReusedClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client

    get = _tolerant(_default)(RedisCacheClient.get)
    add = _tolerant(_false)(RedisCacheClient.add)
    set = _tolerant(_none)(RedisCacheClient.set)
    touch = _tolerant(_false)(RedisCacheClient.touch)
    delete = _tolerant(_false)(RedisCacheClient.delete)
    get_many = _tolerant(_empty)(RedisCacheClient.get_many)
    has_key = _tolerant(_false)(RedisCacheClient.has_key)
    set_many = _tolerant(_none)(RedisCacheClient.set_many)
    delete_many = _tolerant(_none)(RedisCacheClient.delete_many)


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = _ReusedClient
