"""Strings, numbers and dates from a request are checked once, at the edge.

PostgreSQL refuses NUL in text ("A string literal cannot contain NUL"), Python's `date` stops at
year 9999 and a column at its length: a value that can reach one of them is refused here with a
400 naming the field, before a view, a form or a query sees it. `EdgeValidationMiddleware` checks
every query parameter, form field, file name, path and the cookies we read of each portal
request; forms keep their own `max_length` for the columns behind them, and CSV cells go through
`text_problem` row by row (licensing.validation).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

# C0 controls except tab, LF and CR (a textarea carries them), DEL, C1 controls, and the lone
# surrogates a JSON "\ud800" or a surrogate-escaped byte can leave in a Python string.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

# No query parameter of the portal needs more (a search box, a date, a sort key); no form field
# either, and the forms' own max_length is shorter still for every column behind them.
MAX_QUERY_VALUE = 1_000
MAX_FORM_VALUE = 5_000
MAX_PATH = 2_000

# Dates a page, filter or export accepts: wide enough for any real record, narrow enough that
# date arithmetic (a day after the end, a month after this one) never leaves Python's range.
DATE_MIN = date(2000, 1, 1)
DATE_MAX = date(2100, 12, 31)

# Requests the JSON API answers itself, as problem+json (credits_portal.api).
EXEMPT_PREFIXES = ("/api/",)


def text_problem(value: str, *, max_length: int | None = None) -> str | None:
    """Why `value` cannot be taken as text, or None when it can."""
    found = _FORBIDDEN.search(value)
    if found:
        return f"must not contain control characters (U+{ord(found.group()):04X} found)."
    if max_length is not None and len(value) > max_length:
        return f"must be at most {max_length:,} characters (it has {len(value):,})."
    return None


def date_problem(value: date) -> str | None:
    """Why a date from a request is out of the portal's range, or None."""
    if not DATE_MIN <= value <= DATE_MAX:
        return f"must be between {DATE_MIN:%Y-%m-%d} and {DATE_MAX:%Y-%m-%d}."
    return None


def request_problem(request: HttpRequest) -> tuple[str, str] | None:
    """(field, problem) for the first value of `request` that no view may see, or None."""
    if problem := text_problem(request.path_info, max_length=MAX_PATH):
        return "path", problem
    for source, limit in ((request.GET, MAX_QUERY_VALUE), (request.POST, MAX_FORM_VALUE)):
        for name, values in source.lists():
            if problem := text_problem(name, max_length=100):
                return "parameter name", problem
            for value in values:
                if problem := text_problem(value, max_length=limit):
                    return name, problem
    for name, upload in request.FILES.items():
        if problem := text_problem(upload.name or "", max_length=255):
            return f"{name} (file name)", problem
    for cookie in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME):
        if problem := text_problem(request.COOKIES.get(cookie, ""), max_length=MAX_PATH):
            return f"cookie {cookie}", problem
    return None


def bad_request(field: str, problem: str) -> HttpResponse:
    """The portal's 400: which field, and what is wrong with it."""
    return HttpResponse(
        render_to_string("400.html", {"field": field, "problem": problem}), status=400
    )


def export_refused(errors) -> HttpResponse:
    """A download whose filters do not hold: 400 in plain text naming each field, rather than a
    file of nothing (`errors` as a form's: field → messages)."""
    lines = [f"{name}: {' '.join(messages)}" for name, messages in errors.items()]
    return HttpResponse(
        "The export was refused.\n" + "\n".join(lines) + "\n",
        status=400,
        content_type="text/plain; charset=utf-8",
    )


class EdgeValidationMiddleware:
    """400, naming the field, for any portal request carrying a value no view may see."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(EXEMPT_PREFIXES):
            found = request_problem(request)
            if found:
                return bad_request(*found)
        return self.get_response(request)
