"""The platform's records and authorizations as the OpenAPI schema describes them (issue 17).

`CallRecord` and `SmsRecord` document every field of a usage record: type, bounds, format and
enum, which fields are required, and an example of each. They are documentation only: the API
accepts any JSON value as a record and `usage.services.ingest` checks each record on its own (a
bad one is `rejected` naming every invalid field, the good ones beside it are rated), so one bad
record never makes the framework refuse the whole batch. The bounds are the ingest's own
constants, so the schema and the checker cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import PlainValidator

from credits_portal.api_input import CLEAN_PATTERN
from usage.services.ingest import MAX_BATCH
from usage.services.ingest_parse import MAX_DURATION_SECONDS, TEXT_LENGTHS

# E.164: "+", a country code that does not start with 0, at most 15 digits in all. The server
# checks each number with libphonenumber as well (a well-formed but unassigned number is refused).
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"
E164_OR_EMPTY_PATTERN = r"^(\+[1-9][0-9]{1,14})?$"

CALL_EXAMPLE = {
    "id": "call-7f3a",
    "kind": "call",
    "type": "outbound",
    "user": "ana@contoso.example",
    "from": "+14255550100",
    "to": "+442071838750",
    "started_at": "2026-11-02T09:15:00Z",
    "duration_seconds": 125,
    "authorization_id": "auth_4b1d2c3e5f60718293a4b5c6d7e8f901",
}
SMS_EXAMPLE = {
    "id": "sms-91c2",
    "kind": "sms",
    "type": "sms",
    "user": "ana@contoso.example",
    "from": "+14255550100",
    "to": "+447911123456",
    "started_at": "2026-11-02T09:20:00Z",
}
RESULT_EXAMPLES = [
    {
        "id": "call-7f3a",
        "status": "rated",
        "charge": "0.07",
        "currency": "USD",
        "funded_by": "credits",
        "plan_minutes": 0,
    },
    {
        "id": "sms-91c2",
        "status": "duplicate",
        "charge": "0.01",
        "currency": "USD",
        "funded_by": "credits",
        "plan_minutes": 0,
    },
    {
        "id": "call-bad",
        "status": "rejected",
        "error": "to: '+1' is not an E.164 number; duration_seconds: at most 86400",
    },
]


def _text(name: str, description: str, *, min_length: int = 1) -> Any:
    return Field(
        min_length=min_length,
        max_length=TEXT_LENGTHS[name],
        pattern=CLEAN_PATTERN,
        description=description,
    )


RecordId = Annotated[str, _text("id", "Your id of the record; the same id again is `duplicate`.")]
Upn = Annotated[str, _text("user", "The user's UPN (for dial-in: the meeting organiser).")]
StartedAt = Annotated[
    str,
    Field(
        json_schema_extra={"format": "date-time"},
        max_length=TEXT_LENGTHS["started_at"],
        description="ISO 8601 with a UTC offset (`Z`); at most `USAGE_MAX_AGE_DAYS` (default 35)"
        " days in the past and `USAGE_MAX_FUTURE_SECONDS` (default 300) in the future.",
    ),
]
Called = Annotated[
    str,
    Field(
        pattern=E164_PATTERN,
        max_length=TEXT_LENGTHS["to"],
        description="The number called (for dial-in: the toll-free number), E.164.",
    ),
]
Caller = Annotated[
    str | None,
    Field(
        pattern=E164_OR_EMPTY_PATTERN,
        max_length=TEXT_LENGTHS["from"],
        description="The number called from, E.164; empty or absent when unknown.",
    ),
]
AuthorizationId = Annotated[
    str | None,
    Field(
        max_length=TEXT_LENGTHS["authorization_id"],
        pattern=CLEAN_PATTERN,
        description="The `authorization_id` `POST /calls/authorize` gave: the record settles it"
        " and is always rated, within what the authorization held.",
    ),
]


class CallRecord(Schema):
    """One call. Every text field: no control characters."""

    model_config = {"json_schema_extra": {"examples": [CALL_EXAMPLE]}}

    id: RecordId
    kind: Literal["call"]
    type: Literal["outbound", "conference_dial_out", "toll_free_dial_in"]
    user: Upn
    from_: Caller = Field(None, alias="from")
    to: Called
    started_at: StartedAt
    duration_seconds: int = Field(
        ...,
        ge=0,
        le=MAX_DURATION_SECONDS,
        description="Whole seconds; billed by the started minute (125 s is 3 minutes).",
    )
    authorization_id: AuthorizationId = None
    conference_id: str | None = Field(
        None,
        max_length=TEXT_LENGTHS["conference_id"],
        pattern=CLEAN_PATTERN,
        description="The meeting, for conference dial-out and dial-in calls.",
    )


class SmsRecord(Schema):
    """One SMS: one message a record, no duration. Every text field: no control characters."""

    model_config = {"json_schema_extra": {"examples": [SMS_EXAMPLE]}}

    id: RecordId
    kind: Literal["sms"]
    type: Literal["sms"]
    user: Upn
    from_: Caller = Field(None, alias="from")
    to: Called
    started_at: StartedAt
    authorization_id: AuthorizationId = None


UsageRecord = Annotated[CallRecord | SmsRecord, Field(discriminator="kind")]


def _as_sent(value: Any) -> Any:
    # Each record is checked by the ingest, on its own: never by the framework for the batch.
    return value


class RecordsIn(Schema):
    """A batch of call and SMS records; each is checked on its own (`RecordResult`)."""

    model_config = {"json_schema_extra": {"examples": [{"records": [CALL_EXAMPLE, SMS_EXAMPLE]}]}}

    records: list[Annotated[Any, PlainValidator(_as_sent, json_schema_input_type=UsageRecord)]] = (
        Field(
            ...,
            max_length=MAX_BATCH,
            description=f"At most {MAX_BATCH} records, each a `CallRecord` or an `SmsRecord`. A"
            " record that does not match is `rejected` in its result, naming every invalid field;"
            " the others are rated: the response is 200 whatever each record holds.",
        )
    )


class RecordResult(Schema):
    """What became of one record, in the order sent."""

    model_config = {"json_schema_extra": {"examples": RESULT_EXAMPLES}}

    id: str = Field(description="The record's id; empty when the record had no usable id.")
    status: Literal["rated", "duplicate", "rejected"] = Field(
        description="`rated` now; `duplicate`: this id was recorded before (the same result"
        " again, nothing charged twice); `rejected`: see `error`."
    )
    error: str | None = Field(
        None,
        description="For `rejected`: every invalid field as `field: why`, separated by `; `,"
        " or a refusal such as `destination_not_rated: …` or `user: no such user …`.",
    )
    charge: str | None = Field(
        None, description='Money in `currency`, a decimal string (`"0.07"`).'
    )
    currency: str | None = Field(None, description="ISO 4217.")
    funded_by: Literal["plan_minutes", "credits", "overage", "none"] | None = None
    plan_minutes: int | None = Field(
        None, ge=0, description="How many of the billed minutes a plan's pool covered."
    )


class RecordsOut(Schema):
    results: list[RecordResult]
