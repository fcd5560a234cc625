"""Spend caps as admins set them: a user's own daily and monthly caps (the user's page, the API,
a CSV in bulk) and the organisation's defaults and daily cap (Users › Spend caps).

Licensing keeps the caps; `usage.services.caps` enforces them when a call is authorized. Amounts
are in the organisation's currency with at most its minor-unit decimals; None is "no cap of
this user's own" (the organisation's default applies) or, for a default, "none".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import connection, transaction
from django.utils import timezone
from moneyed import get_currency

from credits_portal.models import Organisation
from licensing.exceptions import LicensingError
from licensing.models import CsvUpload, DirectoryUser, SpendCap, SpendCapDefaults
from licensing.services import licensing_changed
from licensing.validation import RowError, _shown, clean_upn, read_csv

CAP_COLUMNS = ["upn", "daily", "monthly"]
# The columns are NUMERIC(18, 4): a cap of a trillion is a typing mistake, not a limit.
MAX_CAP = Decimal("1000000000")
_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")


def _decimals(currency: str) -> int:
    sub_unit = get_currency(str(currency)).sub_unit or 1
    return len(str(sub_unit)) - 1


def clean_cap(value: object, currency: str, *, field: str) -> Decimal | None:
    """A cap from what an admin typed or sent: None for empty or null, else an amount of 0 or
    more with no more decimals than `currency` allows; LicensingError naming `field`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | Decimal):
        raise LicensingError('A cap is a decimal string such as "20.00", or null.', field=field)
    text = str(value).strip()
    if not text:
        return None
    if len(text) > 30 or not _AMOUNT.fullmatch(text):
        raise LicensingError(
            "Enter an amount of 0 or more such as 20 or 20.00 (empty: no cap).", field=field
        )
    try:
        amount = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        raise LicensingError("Enter an amount such as 20.00.", field=field) from None
    if amount > MAX_CAP:
        raise LicensingError(f"A cap is at most {MAX_CAP:,}.", field=field)
    digits = _decimals(currency)
    quantum = Decimal(1).scaleb(-digits)
    if amount != amount.quantize(quantum):
        allowed = f"at most {digits} decimals" if digits else "no decimals"
        raise LicensingError(f"{currency} amounts have {allowed}.", field=field)
    return amount.quantize(quantum)


def cap_str(value: Decimal | None, currency: str) -> str | None:
    """A cap as the API and the pages show it: the currency's decimals (`"20.00"`), or None."""
    return None if value is None else str(value.quantize(Decimal(1).scaleb(-_decimals(currency))))


def user_caps_str(caps: UserCaps, currency: str) -> dict[str, str | None]:
    """A user's caps as the API, the pages and the audit log state them (None: the default)."""
    return {"daily": cap_str(caps.daily, currency), "monthly": cap_str(caps.monthly, currency)}


def clean_caps(values: dict[str, object], currency: str) -> dict[str, Decimal | None]:
    """Every named cap checked; LicensingError whose `errors` names every bad field."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Decimal | None] = {}
    for name, value in values.items():
        try:
            cleaned[name] = clean_cap(value, currency, field=name)
        except LicensingError as exc:
            errors.setdefault(name, []).append(exc.message)
    if errors:
        first = next(iter(errors))
        raise LicensingError(errors[first][0], field=first, errors=errors)
    return cleaned


@dataclass(frozen=True)
class UserCaps:
    daily: Decimal | None
    monthly: Decimal | None


def user_caps(user: DirectoryUser) -> UserCaps:
    cap = SpendCap.objects.filter(user=user).first()
    return UserCaps(cap.daily, cap.monthly) if cap else UserCaps(None, None)


def caps_defaults(organisation: Organisation) -> SpendCapDefaults:
    """The organisation's defaults (unsaved and empty when never set)."""
    found = SpendCapDefaults.objects.filter(organisation=organisation).first()
    return found or SpendCapDefaults(organisation=organisation)


def _write(user_id: int, daily: Decimal | None, monthly: Decimal | None) -> None:
    if daily is None and monthly is None:
        SpendCap.objects.filter(user_id=user_id).delete()
    else:
        SpendCap.objects.update_or_create(
            user_id=user_id, defaults={"daily": daily, "monthly": monthly}
        )


def user_caps_set(
    *, user: DirectoryUser, daily: Decimal | None, monthly: Decimal | None
) -> tuple[UserCaps, UserCaps]:
    """Set a user's own caps (None: the default applies); (before, after) for the audit log.
    The next authorization of their calls reads them (the licensing version changes)."""
    with transaction.atomic():
        locked = DirectoryUser.objects.select_for_update().get(pk=user.pk)
        before = user_caps(locked)
        _write(locked.pk, daily, monthly)
        licensing_changed(locked.organisation_id)
    return before, UserCaps(daily, monthly)


def caps_defaults_set(
    *,
    organisation: Organisation,
    user_daily: Decimal | None,
    user_monthly: Decimal | None,
    organisation_daily: Decimal | None,
) -> dict[str, str | None]:
    """Set the organisation's defaults and daily cap; the values before, for the audit log."""
    with transaction.atomic():
        defaults, _ = SpendCapDefaults.objects.select_for_update().get_or_create(
            organisation=organisation
        )
        before = caps_text(defaults)
        defaults.user_daily = user_daily
        defaults.user_monthly = user_monthly
        defaults.organisation_daily = organisation_daily
        defaults.save()
        licensing_changed(organisation.pk)
    return before


def caps_text(defaults: SpendCapDefaults) -> dict[str, str | None]:
    currency = str(defaults.organisation.currency)
    return {
        name: cap_str(getattr(defaults, name), currency)
        for name in ("user_daily", "user_monthly", "organisation_daily")
    }


# The call path's read, one statement: the user's own caps, the organisation's defaults.
_CALL_CAPS_SQL = """
SELECT c.daily, c.monthly, d.user_daily, d.user_monthly, d.organisation_daily
FROM (SELECT 1) one
LEFT JOIN licensing_spendcap c ON c.user_id = %s
LEFT JOIN licensing_spendcapdefaults d ON d.organisation_id = %s
"""


@dataclass(frozen=True)
class CallCaps:
    """The caps one caller's calls meet: their own or the default, and the organisation's."""

    daily: Decimal | None
    monthly: Decimal | None
    organisation_daily: Decimal | None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.daily, self.monthly, self.organisation_daily))


def caps_of_caller(*, organisation_id: int, user_id: int) -> CallCaps:
    with connection.cursor() as cursor:
        cursor.execute(_CALL_CAPS_SQL, [user_id, organisation_id])
        daily, monthly, default_daily, default_monthly, organisation_daily = cursor.fetchone()
    return CallCaps(
        daily if daily is not None else default_daily,
        monthly if monthly is not None else default_monthly,
        organisation_daily,
    )


# CSV in bulk: upn,daily,monthly; an empty cell is "no cap of the user's own".


@dataclass
class CapRow:
    line: int
    upn: str
    daily: Decimal | None
    monthly: Decimal | None


def parse_caps_csv(
    raw: bytes, *, organisation: Organisation
) -> tuple[list[CapRow], list[RowError]]:
    """Every row checked, unknown users included; LicensingError for a file that cannot be read
    at all (not UTF-8, a NUL, too large, the wrong header)."""
    currency = str(organisation.currency)
    good: list[CapRow] = []
    bad: list[RowError] = []
    seen: dict[str, int] = {}
    rows = read_csv(raw, CAP_COLUMNS)
    known = _known_upns(organisation, rows)
    for line, data in rows:
        if "__columns__" in data:
            bad.append(RowError(line, "", {"row": [data["__columns__"]]}))
            continue
        if "__cells__" in data:
            bad.append(RowError(line, _shown(data["upn"]), data["__cells__"]))
            continue
        errors: dict[str, list[str]] = {}
        upn = ""
        try:
            upn = clean_upn(data["upn"])
        except LicensingError as exc:
            errors["upn"] = [exc.message]
        else:
            if upn in seen:
                errors["upn"] = [f"Duplicate of line {seen[upn]}."]
            elif upn not in known:
                errors["upn"] = ["No such user in the directory."]
            seen.setdefault(upn, line)
        try:
            caps = clean_caps({"daily": data["daily"], "monthly": data["monthly"]}, currency)
        except LicensingError as exc:
            errors.update(exc.errors or {})
        if errors:
            bad.append(RowError(line, upn or _shown(data["upn"]), errors))
            continue
        good.append(CapRow(line, upn, caps["daily"], caps["monthly"]))
    return good, bad


def _known_upns(organisation: Organisation, rows: list[tuple[int, dict]]) -> set[str]:
    upns = {str(data.get("upn", "")).strip().lower() for _, data in rows}
    return set(
        DirectoryUser.objects.filter(organisation=organisation, upn__in=upns).values_list(
            "upn", flat=True
        )
    )


def caps_upload_create(
    *, organisation: Organisation, filename: str, raw: bytes, created_by
) -> CsvUpload:
    """Keep an uploaded caps file for its preview once it can be read; row errors are the
    preview's to show."""
    parse_caps_csv(raw, organisation=organisation)
    return CsvUpload.objects.create(
        organisation=organisation,
        kind=CsvUpload.Kind.CAPS,
        filename=filename[:200],
        content=raw.decode("utf-8-sig"),
        created_by=created_by,
    )


def caps_upload_apply(*, upload: CsvUpload) -> int:
    """Apply every row of a caps upload, or none: read again under the transaction, so a user
    removed since the preview refuses the whole file. The rows applied."""
    with transaction.atomic():
        locked = CsvUpload.objects.select_for_update().get(pk=upload.pk)
        if locked.applied_at is not None:
            raise LicensingError("This file was applied already.", conflict=True)
        rows, errors = parse_caps_csv(locked.content.encode(), organisation=locked.organisation)
        if errors:
            raise LicensingError(
                f"Nothing was applied: {len(errors)} rows have errors.", field="file"
            )
        users = dict(
            DirectoryUser.objects.select_for_update()
            .filter(organisation=locked.organisation, upn__in=[r.upn for r in rows])
            .order_by("pk")
            .values_list("upn", "pk")
        )
        for row in rows:
            _write(users[row.upn], row.daily, row.monthly)
        locked.applied_at = timezone.now()
        locked.save(update_fields=["applied_at"])
        licensing_changed(locked.organisation_id)
    return len(rows)
