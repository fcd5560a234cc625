"""Keyset (seek) pages of the usage report and the ledger history: each page starts after the
last row of the one before it, named by an opaque cursor, so no page counts or skips the rows
before it and a row that arrives between two loads neither repeats nor hides another."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core import signing
from django.db import models
from django.db.models import F, Func, Value
from django.db.models.lookups import GreaterThan, LessThan

from credits_portal.api_input import text_problem

SALT = "usage.report.cursor"
MAX_CURSOR = 512  # characters: a real cursor is about 120; anything longer is not one of ours
# The sort key's type, to read it back from a cursor.
PARSE = {
    "started_at": datetime.fromisoformat,
    "charge": Decimal,
    "duration_seconds": int,
    "record_id": str,
    "id": int,  # rows sorted by id alone (the ledger history): the key is the id itself
}


class Row(Func):
    """A row value, `ROW(a, b)`: PostgreSQL compares it in one index condition, (key, id) > (…)."""

    template = "ROW(%(expressions)s)"
    output_field = models.Field()


@dataclass(frozen=True)
class Order:
    field: str  # the model field the rows are sorted by, then by id in the same direction
    descending: bool
    name: str  # the sort as the page names it ("-time", "charge"): a cursor is for one sort only

    @property
    def order_by(self) -> tuple[str, ...]:
        sign = "-" if self.descending else ""
        if self.field == "id":
            return (f"{sign}id",)
        return (f"{sign}{self.field}", f"{sign}id")


@dataclass
class KeysetPage:
    rows: list
    next_cursor: str | None
    previous_cursor: str | None
    is_first: bool
    cursor_refused: bool = False  # the cursor given was not one of ours: the first page instead

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def has_other_pages(self) -> bool:
        return bool(self.next_cursor or not self.is_first)


def cursor_encode(order: Order, row, *, back: bool = False) -> str:
    key = getattr(row, order.field)
    value = key.isoformat() if isinstance(key, datetime) else str(key)
    return signing.dumps({"o": order.name, "k": value, "i": row.pk, "b": back}, salt=SALT)


def cursor_decode(order: Order, cursor: str) -> tuple[object, int, bool] | None:
    """(key, id, backwards) of a cursor made for `order`; None for anything else (garbage, a
    forged or truncated cursor, one of another sort)."""
    if not cursor or len(cursor) > MAX_CURSOR:
        return None
    try:
        data = signing.loads(cursor, salt=SALT)
        if not isinstance(data, dict) or data.get("o") != order.name:
            return None
        key, pk, back = data["k"], data["i"], data["b"]
        if type(pk) is not int or not isinstance(back, bool) or not isinstance(key, str):
            return None
        return _checked(order, PARSE[order.field](key), pk, back)
    except (signing.BadSignature, KeyError, TypeError, ValueError, ArithmeticError):
        return None


def _checked(order: Order, key, pk: int, back: bool) -> tuple[object, int, bool] | None:
    """A decoded cursor whose values the columns can hold: only our own rows make cursors, but
    a value no column holds (NaN, a naive time, a NUL, an id past bigint) must never reach SQL."""
    if not 0 < pk < 2**63:
        return None
    if isinstance(key, Decimal) and (not key.is_finite() or abs(key) >= 10**18):
        return None
    if isinstance(key, datetime) and key.tzinfo is None:
        return None
    if isinstance(key, str) and text_problem(key, 100):
        return None
    # An id sort's key is the id (bigint); the other whole-number columns are integers.
    bound = 2**63 if order.field == "id" else 2**31
    if isinstance(key, int) and not 0 <= key < bound:
        return None
    return key, pk, back


def _after(order: Order, key, pk: int, forwards: bool):
    """The rows past (key, pk) in the page's direction (forwards) or against it."""
    lookup = GreaterThan if order.descending != forwards else LessThan
    if order.field == "id":  # one column: a plain comparison the (…, id) index serves
        return lookup(F("id"), Value(pk))
    # Cast the literal to the column's type, so that the row comparison stays an index condition.
    return lookup(Row(F(order.field), F("id")), Row(Value(key), Value(pk)))


def keyset_page(records, order: Order, cursor: str | None, size: int) -> KeysetPage:
    """The page of `records` (ordered by `order`) that `cursor` names; the first page when there
    is no cursor or it is not one of ours."""
    decoded = cursor_decode(order, cursor) if cursor else None
    refused = bool(cursor) and decoded is None
    ordered = records.order_by(*order.order_by)
    if decoded is None:
        rows = list(ordered[: size + 1])
        first = True
    else:
        key, pk, back = decoded
        if back:
            reverse = [f[1:] if f.startswith("-") else f"-{f}" for f in order.order_by]
            before = list(
                records.filter(_after(order, key, pk, False)).order_by(*reverse)[: size + 1]
            )
            if len(before) <= size:  # back at the start: show the first page whole
                rows, first = list(ordered[: size + 1]), True
            else:
                rows, first = before[:size][::-1], False
                rows.append(None)  # a row follows: the one the cursor came from
        else:
            rows = list(
                records.filter(_after(order, key, pk, True)).order_by(*order.order_by)[: size + 1]
            )
            first = False
    more = len(rows) > size
    rows = rows[:size]
    return KeysetPage(
        rows=rows,
        next_cursor=cursor_encode(order, rows[-1]) if more and rows else None,
        previous_cursor=cursor_encode(order, rows[0], back=True) if not first and rows else None,
        is_first=first,
        cursor_refused=refused,
    )
