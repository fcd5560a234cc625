"""Checking directory users and CSV files before anything is written: errors per row and field."""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django_countries import countries

from credits_portal.validation import text_problem
from licensing.exceptions import LicensingError

MAX_CSV_BYTES = 5 * 1024 * 1024
MAX_CSV_ROWS = 50_000
USER_COLUMNS = ["upn", "display_name", "usage_location"]
USER_OPTIONAL = ["phone_number"]
LICENSE_COLUMNS = ["upn", "assign", "remove"]
MAX_UPN = 254  # DirectoryUser.upn, as RFC 5321 limits an address
MAX_CELL = 1_000  # no column of either file holds more


@dataclass
class UserRow:
    upn: str
    display_name: str
    usage_location: str
    phone_number: str | None = None  # None: not given, an update keeps the current number


@dataclass
class RowError:
    line: int
    upn: str
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in self.errors.items())


def clean_upn(value: str) -> str:
    upn = (value or "").strip().lower()
    if len(upn) > MAX_UPN:
        raise LicensingError(f"A UPN has at most {MAX_UPN} characters.", field="upn")
    try:
        validate_email(upn)
    except ValidationError:
        raise LicensingError(
            f"{value!r} is not a UPN like ana@contoso.example.", field="upn"
        ) from None
    return upn


def clean_country(value: str) -> str:
    code = (value or "").strip().upper()
    if code not in countries:
        raise LicensingError(
            f"{value!r} is not an ISO 3166 country code like US or GB.", field="usage_location"
        )
    return code


def clean_phone(value: str) -> str:
    """An E.164 number (+ country code and number, no spaces), checked with libphonenumber."""
    return _e164((value or "").strip())


@lru_cache(maxsize=100_000)
def _e164(value: str) -> str:
    # Call records repeat the same numbers: libphonenumber parses each one once per process.
    if not value:
        return ""
    message = f"{value!r} is not an E.164 phone number like +14255550100."
    if not value.startswith("+"):
        raise LicensingError(message, field="phone_number")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise LicensingError(message, field="phone_number") from None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number) or e164 != value:
        raise LicensingError(message, field="phone_number")
    return e164


def clean_user(data: dict[str, str]) -> UserRow:
    """A valid user, or LicensingError whose `errors` holds every field's problems."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, str] = {}
    for name, cleaner in (
        ("upn", clean_upn),
        ("usage_location", clean_country),
        ("phone_number", clean_phone),
    ):
        if name == "phone_number" and data.get(name) is None:
            cleaned[name] = None  # no such column: keep what an existing user has
            continue
        try:
            cleaned[name] = cleaner(data.get(name) or "")
        except LicensingError as exc:
            errors.setdefault(name, []).append(exc.message)
    display_name = (data.get("display_name") or "").strip()
    if not display_name:
        errors.setdefault("display_name", []).append("A display name is required.")
    elif len(display_name) > 200:
        errors.setdefault("display_name", []).append("At most 200 characters.")
    if errors:
        error = LicensingError(next(iter(errors.values()))[0], field=next(iter(errors)))
        error.errors = errors
        raise error
    return UserRow(display_name=display_name, **cleaned)


def read_csv(
    raw: bytes, columns: list[str], optional: list[str] | None = None
) -> list[tuple[int, dict]]:
    """(line number, row) pairs of a UTF-8 CSV with exactly these columns, or LicensingError."""
    optional = optional or []
    if len(raw) > MAX_CSV_BYTES:
        raise LicensingError(
            f"The file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB.", field="file"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LicensingError(
            "The file is not UTF-8 text; save it as CSV UTF-8.", field="file"
        ) from None
    if "\x00" in text:
        # PostgreSQL cannot store the file to preview it, so the whole file is refused.
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise LicensingError(
            f"Line {line} holds a NUL character; remove it and upload the file again.",
            field="file",
        )
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise LicensingError("The file is empty.", field="file") from None
    except csv.Error as exc:
        raise LicensingError(f"Not a CSV file: {exc}.", field="file") from None
    allowed = [columns, columns + optional[:1]] if optional else [columns]
    if header not in allowed:
        expected = ",".join(columns) + (f"[,{','.join(optional)}]" if optional else "")
        raise LicensingError(
            f"The header must be {expected}, not {','.join(header)}.", field="file"
        )
    rows = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(rows) >= MAX_CSV_ROWS:
                raise LicensingError(f"At most {MAX_CSV_ROWS:,} rows in one file.", field="file")
            if len(header) > len(values) >= len(columns):
                values = values + [""] * (len(header) - len(values))  # optional cells left off
            if len(values) != len(header):
                rows.append(
                    (
                        reader.line_num,
                        {"__columns__": f"{len(values)} values for {len(header)} columns"},
                    )
                )
                continue
            data = dict(zip(header, (v.strip() for v in values), strict=True))
            cells = {
                name: [f"The cell {problem}"]
                for name, value in data.items()
                if (problem := text_problem(value, max_length=MAX_CELL))
            }
            rows.append((reader.line_num, {"__cells__": cells, **data} if cells else data))
    except csv.Error as exc:
        raise LicensingError(f"Line {reader.line_num}: {exc}.", field="file") from None
    if not rows:
        raise LicensingError("The file has a header but no rows.", field="file")
    return rows


def parse_users_csv(raw: bytes) -> tuple[list[UserRow], list[RowError]]:
    good: list[UserRow] = []
    bad: list[RowError] = []
    seen: dict[str, int] = {}
    for line, data in read_csv(raw, USER_COLUMNS, USER_OPTIONAL):
        if "__columns__" in data:
            bad.append(RowError(line, "", {"row": [data["__columns__"]]}))
            continue
        if "__cells__" in data:
            bad.append(RowError(line, _shown(data["upn"]), data["__cells__"]))
            continue
        try:
            row = clean_user(data)
        except LicensingError as exc:
            bad.append(RowError(line, _shown(data.get("upn", "")), exc.errors))
            continue
        if row.upn in seen:
            bad.append(RowError(line, row.upn, {"upn": [f"Duplicate of line {seen[row.upn]}."]}))
            continue
        seen[row.upn] = line
        good.append(row)
    return good, bad


@dataclass
class LicenseRow:
    line: int
    upn: str
    assign: set[str]
    remove: set[str]


def split_skus(value: str) -> set[str]:
    return {s.strip().upper() for s in (value or "").replace(",", ";").split(";") if s.strip()}


def parse_licenses_csv(
    raw: bytes, *, skus: Collection[str] | None = None
) -> tuple[list[LicenseRow], list[RowError]]:
    """Every row checked; with the catalogue's `skus`, each license a row names is one of them
    (so a preview lists every refusal the file holds, not the first one Apply would meet)."""
    good: list[LicenseRow] = []
    bad: list[RowError] = []
    seen: dict[str, int] = {}
    for line, data in read_csv(raw, LICENSE_COLUMNS):
        if "__columns__" in data:
            bad.append(RowError(line, "", {"row": [data["__columns__"]]}))
            continue
        if "__cells__" in data:
            bad.append(RowError(line, _shown(data["upn"]), data["__cells__"]))
            continue
        try:
            upn = clean_upn(data["upn"])
        except LicensingError as exc:
            bad.append(RowError(line, _shown(data["upn"]), {"upn": [exc.message]}))
            continue
        if upn in seen:
            bad.append(RowError(line, upn, {"upn": [f"Duplicate of line {seen[upn]}."]}))
            continue
        seen[upn] = line
        assign, remove = split_skus(data["assign"]), split_skus(data["remove"])
        if not assign and not remove:
            bad.append(RowError(line, upn, {"assign": ["Nothing to assign or remove."]}))
            continue
        errors = _sku_errors(assign, remove, skus)
        if errors:
            bad.append(RowError(line, upn, errors))
            continue
        good.append(LicenseRow(line, upn, assign, remove))
    return good, bad


def _sku_errors(
    assign: set[str], remove: set[str], skus: Collection[str] | None
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if skus is not None:
        for name, named in (("assign", assign), ("remove", remove)):
            if unknown := sorted(named - set(skus)):
                errors[name] = [
                    f"Unknown license {', '.join(map(_shown, unknown))}; one of {', '.join(skus)}."
                ]
    if both := sorted(assign & remove):
        errors.setdefault("remove", []).append(
            f"{', '.join(both)} cannot be both assigned and removed."
        )
    return errors


def _shown(value: str) -> str:
    """A cell as the preview may quote it: short, and without the characters it was refused for."""
    shown = "".join("\ufffd" if text_problem(c) else c for c in value[:100])
    return shown + "…" if len(value) > 100 else shown
