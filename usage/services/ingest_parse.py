"""A usage record from the platform, checked field by field before it is rated (`usage_ingest`).

Any JSON value may arrive as a record or in any of its fields: `parse_record` gives the record
as `Parsed` (its numbers placed in their countries, its start in UTC) or raises `Rejected`
naming every invalid field (`field: why; field: why`), never anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils.dateparse import parse_datetime

from credits_portal.api_input import CONTROL, SURROGATE, text_problem
from licensing.selectors import Holder
from usage.models import CallType
from usage.services.numbers import InvalidNumber, Number, number_of

CALL_TYPES = {CallType.OUTBOUND, CallType.CONFERENCE_DIAL_OUT, CallType.TOLL_FREE_DIAL_IN}


@dataclass(slots=True)
class Parsed:
    index: int
    id: str
    kind: str
    type: str
    upn: str
    source: Number  # the number called from (may be empty) and its country
    destination: Number  # the number called and its country
    started_at: datetime
    duration: int
    authorization: str
    conference: str = ""
    user: Holder | None = None


class Rejected(Exception):
    pass


@dataclass(frozen=True)
class Window:
    """When a batch's records may have started: at most `max_age` before `now` and a few minutes
    after it, so that a record is never rated against a month its organisation cannot have
    reached or has closed. Worked out once a batch."""

    earliest: datetime
    latest: datetime
    days: int  # max_age in days, for the message
    ahead: int  # seconds

    @classmethod
    def of(cls, *, now: datetime, max_age: timedelta) -> Window:
        ahead = settings.USAGE_MAX_FUTURE_SECONDS
        return cls(now - max_age, now + timedelta(seconds=ahead), max_age.days, ahead)


def _started_at(value: object, window: Window) -> datetime:
    """The record's start in UTC, within `window`."""
    try:
        started_at = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well formed but impossible: 30 February, year 0, a 25-hour offset
        raise Rejected("started_at: not a valid date and time") from None
    if started_at is None or started_at.tzinfo is None:
        raise Rejected("started_at: an ISO 8601 time with Z")
    try:
        started_at = started_at.astimezone(UTC)
    except OverflowError:  # after year 9999 or before year 1 once in UTC
        raise Rejected("started_at: not a valid date and time") from None
    if started_at < window.earliest:
        raise Rejected(f"started_at: more than {window.days} days ago")
    if started_at > window.latest:
        raise Rejected(f"started_at: more than {window.ahead} seconds ahead")
    return started_at


# The record's text fields and their columns' lengths. Any JSON value may arrive in any of them:
# each is checked for type, characters (PostgreSQL text holds no NUL, UTF-8 no lone surrogate;
# no id has a control character) and length before it is compared, hashed or stored. The
# OpenAPI schema's bounds are these (usage.api_records).
TEXT_LENGTHS = {  # name: the column's length
    "id": 100,
    "kind": 4,
    "type": 20,
    "user": 254,
    "from": 20,
    "to": 20,
    "started_at": 40,
    "authorization_id": 40,
    "conference_id": 64,
}
MAX_DURATION_SECONDS = 86_400


class _Problems(dict):
    """Every invalid field of one record, the first reason of each, in the order checked: a
    rejected record names them all (issue 17), not only the first."""

    def add(self, name: str, reason: str) -> None:
        self.setdefault(name, reason)

    def error(self) -> str:
        return "; ".join(f"{name}: {reason}" for name, reason in self.items())


def _text_fields(raw: dict, problems: _Problems) -> None:
    for name in TEXT_LENGTHS:
        value = raw.get(name)
        if value is None:
            continue
        if type(value) is str and value.isascii() and value.isprintable():
            continue  # what every record sends: printable ASCII has no control character
        if not isinstance(value, str):
            problems.add(name, "a string")
        elif SURROGATE.search(value):
            problems.add(name, "not valid Unicode text (a lone surrogate)")
        elif CONTROL.search(value):
            problems.add(name, "no control characters")
        # Lengths: each field below says what it holds, in its own words.


def clean_record_id(raw: object) -> str:
    """The record's id to echo in its result: only a string that can be stored as sent."""
    if not isinstance(raw, dict):
        return ""
    value = raw.get("id")
    if not isinstance(value, str) or text_problem(value, TEXT_LENGTHS["id"]):
        return ""
    return value


def _text(raw: dict, name: str) -> str | None:
    """An optional text field: "" when absent or null, None (refused) when not a string."""
    value = raw.get(name)
    if value is None:
        return ""
    return value if isinstance(value, str) else None


def parse_record(index: int, raw: object, *, window: Window) -> Parsed:
    """The record, or Rejected naming every invalid field (`field: why; field: why`)."""
    if not isinstance(raw, dict):
        raise Rejected("a record is a JSON object")
    problems = _Problems()
    _text_fields(raw, problems)
    record_id = raw.get("id")
    if not isinstance(record_id, str) or not record_id.strip() or len(record_id) > 100:
        problems.add("id", "a string of 1 to 100 characters")
    kind = raw.get("kind")
    call_type = raw.get("type")
    if kind not in ("call", "sms"):
        problems.add("kind", "call or sms")
    elif kind == "sms" and call_type != "sms":
        problems.add("type", "sms for an SMS record")
    elif kind == "call" and (not isinstance(call_type, str) or call_type not in CALL_TYPES):
        problems.add("type", "outbound, conference_dial_out or toll_free_dial_in")
    upn = raw.get("user")
    if not isinstance(upn, str) or not upn.strip() or len(upn) > 254:
        problems.add("user", "the user's UPN")
    numbers = {}
    for name in ("to", "from"):
        value = _text(raw, name)
        if value is None:
            problems.add(name, "an E.164 number")
            continue
        if name in problems:
            continue
        try:
            numbers[name] = number_of(value)
        except InvalidNumber:
            problems.add(name, f"{value!r} is not an E.164 number")
    if "to" in numbers and not numbers["to"].e164:
        problems.add("to", "the number called")
    started_at = None
    if "started_at" not in problems:
        try:
            started_at = _started_at(raw.get("started_at"), window)
        except Rejected as exc:
            problems.add("started_at", str(exc).removeprefix("started_at: "))
    duration = raw.get("duration_seconds", 0 if kind == "sms" else None)
    if kind == "sms" and duration is None:
        duration = 0
    # A JSON true is an int to Python, and an integer has no bounds: both are checked here, for
    # calls and SMS alike, before the value reaches rating or an integer column.
    if not isinstance(duration, int) or isinstance(duration, bool) or duration < 0:
        problems.add("duration_seconds", "a whole number of seconds, 0 or more")
    elif duration > MAX_DURATION_SECONDS:
        problems.add("duration_seconds", f"at most {MAX_DURATION_SECONDS}")
    authorization = _text(raw, "authorization_id")
    if authorization is None or len(authorization) > 40:
        problems.add("authorization_id", "the id authorize gave")
    conference = _text(raw, "conference_id")
    if conference is None or len(conference) > 64:
        problems.add("conference_id", "at most 64 characters")
    if problems:
        raise Rejected(problems.error())
    return Parsed(
        index,
        record_id.strip(),
        kind,
        call_type,
        upn.strip().lower(),
        numbers["from"],
        numbers["to"],
        started_at,
        duration or 0,
        authorization,
        conference,
    )
