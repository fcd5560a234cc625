"""Reading at scale: the reports and their exports read from a PostgreSQL replica.

With `DATABASE_REPLICA_URL` set, settings add a `replica` database and install `ReplicaRouter`.
Reads go to the replica only inside a `replica_reads()` scope, which `ReplicaReadsMiddleware`
opens for GET requests under /reports/ and the export job opens around its file; everything else
(every write, every other page, the API, the workers) keeps using the primary, `default`.

Inside a scope a read still goes to the primary when
  * the model is one whose freshness matters more than its cost (`PRIMARY_ONLY`): sessions,
    users, memberships, API keys, axes' lockouts (signing in and permissions must hold the moment
    they change, however far the replica lags), the report's preferences (saved by a POST that
    redirects to the report) and export jobs (created by the request that redirects to them,
    their progress written by the worker);
  * a transaction is open on the primary (a read there may decide a write);
  * the scope already wrote (read-your-writes): a write to any model the replica serves pins the
    rest of the scope to the primary. Writes to `PRIMARY_ONLY` models (a job's progress, the
    session) do not, as those models are read from the primary anyway.
Writes always go to the primary, and migrations only run there (the replica gets the schema by
replication). Without `DATABASE_REPLICA_URL` there is no `replica` alias and no router: one
PostgreSQL serves everything, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.creation import TEST_DATABASE_PREFIX
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse

REPLICA = "replica"

# App labels and model labels always read from the primary.
PRIMARY_ONLY = frozenset(
    {
        "admin",
        "auth",
        "axes",
        "contenttypes",
        "sessions",
        "credits_portal.user",
        "credits_portal.membership",
        "credits_portal.organisation",
        "credits_portal.apikey",
        "credits_portal.idempotencykey",
        "usage.reportpreference",
        "usage.exportjob",
    }
)
# GET and HEAD requests under these paths read from the replica (the report, its exports and any
# report added later: /reports/pools/, /reports/refused-calls/).
REPLICA_PATHS = ("/reports/",)


@dataclass
class _Scope:
    wrote: bool = False


_scope: ContextVar[_Scope | None] = ContextVar("replica_reads", default=None)


@contextmanager
def replica_reads() -> Iterator[None]:
    """Reads inside go to the replica (when one is configured), under the rules above."""
    token = _scope.set(_Scope())
    try:
        yield
    finally:
        _scope.reset(token)


def primary_only(model) -> bool:
    meta = model._meta
    return meta.app_label in PRIMARY_ONLY or meta.label_lower in PRIMARY_ONLY


class ReplicaRouter:
    def db_for_read(self, model, **hints) -> str | None:
        scope = _scope.get()
        if (
            scope is None
            or scope.wrote
            or primary_only(model)
            or connections[DEFAULT_DB_ALIAS].in_atomic_block
        ):
            return DEFAULT_DB_ALIAS
        return REPLICA

    def db_for_write(self, model, **hints) -> str:
        scope = _scope.get()
        if scope is not None and not primary_only(model):
            scope.wrote = True
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        # The replica holds the primary's rows: an object read there may point at one read here.
        if {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name=None, **hints) -> bool | None:
        # The schema reaches a real replica by replication: only the test runner's database
        # standing in for one (test_<name>, a separate database) gets tables, and is flushed.
        if db == REPLICA:
            replica = connections[REPLICA].settings_dict
            name = replica["NAME"]
            return name.startswith(TEST_DATABASE_PREFIX) or name == replica["TEST"].get("NAME")
        return None


def _in_scope(content: Iterable[bytes]) -> Iterator[bytes]:
    """A streamed body, each chunk produced inside a scope: the rows of a CSV export are read
    while the server sends the response, after the view and the middleware have returned."""
    chunks = iter(content)
    end = object()
    while True:
        with replica_reads():
            chunk = next(chunks, end)
        if chunk is end:
            return
        yield chunk


class ReplicaReadsMiddleware:
    """GET and HEAD requests for the reports read from the replica (a no-op without one)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD") or not request.path_info.startswith(REPLICA_PATHS):
            return self.get_response(request)
        with replica_reads():
            response = self.get_response(request)
        # A file (FileResponse) is read from disk, not the database: it keeps its file wrapper.
        streamed = isinstance(response, StreamingHttpResponse)
        if streamed and not isinstance(response, FileResponse) and not response.is_async:
            response.streaming_content = _in_scope(response.streaming_content)
        return response
