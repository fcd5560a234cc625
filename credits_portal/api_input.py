"""What the API accepts as text, checked once at the edge (issue 14).

PostgreSQL text cannot hold NUL, UTF-8 cannot encode a lone surrogate (a JSON `"\\ud800"`
decodes to one), and no id, UPN, name or cursor of ours holds a control character. Every string
field of a request schema is `Text(n)` (n: its column's length), every path and query value
passes `request_problem` before the operation runs, and a cursor is read with `cursor_decode`:
a hostile string is a 4xx naming its field, never a 500 from the database or the encoder.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from django.http import HttpRequest
from pydantic import StringConstraints

# C0 and C1 controls and DEL; a lone surrogate is refused by pydantic (string_unicode) when a
# constrained string is converted, and by `text_problem` everywhere else.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SURROGATE = re.compile(r"[\ud800-\udfff]")
CLEAN_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
MAX_PARAMETER_LENGTH = 1000  # no path or query value of ours is longer (a UPN: 254, a cursor)

CONTROL_MESSAGE = "No control characters (NUL, tabs, line breaks)."
UNICODE_MESSAGE = "Not valid Unicode text (a lone surrogate)."


def Text(max_length: int, *, min_length: int = 0) -> Any:  # a type, like conint
    """A request string of at most `max_length` characters, without control characters."""
    return Annotated[
        str,
        StringConstraints(min_length=min_length, max_length=max_length, pattern=CLEAN_PATTERN),
    ]


def text_problem(value: str, max_length: int | None = None) -> str | None:
    """Why `value` cannot be stored as text, or None when it can."""
    if SURROGATE.search(value):
        return UNICODE_MESSAGE
    if CONTROL.search(value):
        return CONTROL_MESSAGE
    if max_length is not None and len(value) > max_length:
        return f"At most {max_length} characters."
    return None


def request_problem(request: HttpRequest, path_values: dict[str, Any]) -> dict[str, list[str]]:
    """Every path and query value that holds a control character or is absurdly long, by name.
    The operation's own types check the rest (lengths of the columns, numbers, dates)."""
    errors: dict[str, list[str]] = {}
    values = [(name, str(value)) for name, value in path_values.items()]
    values += [(name, value) for name, items in request.GET.lists() for value in items]
    for name, value in values:
        if text_problem(name) or len(name) > MAX_PARAMETER_LENGTH:
            errors.setdefault("query", []).append("A parameter name holds control characters.")
            continue
        problem = text_problem(value, MAX_PARAMETER_LENGTH)
        if problem:
            errors.setdefault(name, []).append(problem)
    return errors


T = TypeVar("T")


class CursorInvalid(ValueError):
    pass


def cursor_decode(cursor: str, parse: Callable[[str], T]) -> T:
    """`parse` of the text a cursor this API gave holds; CursorInvalid for anything else (bad
    base64, not UTF-8, control characters, or text `parse` refuses)."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, binascii.Error, UnicodeError):
        raise CursorInvalid from None
    if text_problem(text, MAX_PARAMETER_LENGTH):
        raise CursorInvalid
    try:
        return parse(text)
    except (ValueError, OverflowError, TypeError):
        raise CursorInvalid from None


def cursor_encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()
