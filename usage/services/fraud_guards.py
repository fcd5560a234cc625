"""Toll-fraud guards: what no call of an organisation may do, whatever funds it (issue 19, item 3).

Three guards, per organisation (usage.models.FraudGuard): no call to a destination dearer than a
rate per minute, none to a blocked E.164 prefix ("+882") or ISO country ("CU"), and no call of a
type longer than its maximum length (which shortens `max_seconds`, and so what the call holds).
A refused call's reason is `destination_blocked`, recorded for Reports › Refused calls like every
refusal. Emergency numbers pass every guard.

Authorization asks on every call, so each process keeps each organisation's guards (`Guard`)
under a version that saving renews: the process that saved sees the change at once, every other
process within a second (the version is read at most a second ago, as licenses and rate cards).

Defaults, for a new organisation and for the ones that existed before the guards: the
international premium and satellite ranges blocked (DEFAULT_BLOCKED), a maximum rate of 1.0000 a
minute in the currencies where that is about a dollar or more (the dearest rate of the shipped
card, usage/data/demo_rate_card.csv, is 0.3000; premium and satellite destinations cost several
a minute), no maximum rate in other currencies (where 1.0000 could refuse ordinary calls), and no
maximum length below the platform's own (AUTHORIZATION_MAX_SECONDS).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from phonenumbers import shortnumberinfo

from credits_portal.exceptions import PortalError
from credits_portal.models import Organisation
from credits_portal.process_cache import ProcessCache
from credits_portal.versions import version_changed, version_of
from usage.models import (
    GUARD_MAX_BLOCKED,
    GUARD_MAX_RATE,
    GUARD_SECONDS,
    CallType,
    FraudGuard,
    RefusalReason,
)
from usage.services.rates import country_of

# ITU-T ranges that toll fraud pumps traffic to: Inmarsat (+870), global mobile satellite systems
# (+881), international networks (+882, +883) and the International Premium Rate Service (+979).
DEFAULT_BLOCKED = ("+870", "+881", "+882", "+883", "+979")
DEFAULT_MAX_RATE = Decimal("1.0000")
# Currencies in which DEFAULT_MAX_RATE is about a US dollar or more.
MAX_RATE_CURRENCIES = frozenset({"USD", "EUR", "GBP", "CHF", "CAD", "AUD", "NZD", "SGD"})

# The call types a maximum length applies to, and the column that holds each one's.
GUARDED_TYPES: dict[str, str] = {
    CallType.OUTBOUND: "max_seconds_outbound",
    CallType.CONFERENCE_DIAL_OUT: "max_seconds_conference_dial_out",
    CallType.TOLL_FREE_DIAL_IN: "max_seconds_toll_free_dial_in",
}

_PREFIX = re.compile(r"\+[1-9][0-9]{0,14}")
_RATE = re.compile(r"[0-9]{1,20}(\.[0-9]{1,4})?")
_SHORT = re.compile(r"\+[1-9][0-9]{2,7}")  # a country code and a short number: +1911, +44999


class FraudGuardError(PortalError):
    """Guards the portal refuses to save; `errors` names every invalid field."""


def defaults_for(currency: str) -> dict[str, object]:
    """A new organisation's guards (FraudGuard's fields), in its currency."""
    max_rate = DEFAULT_MAX_RATE if str(currency).upper() in MAX_RATE_CURRENCIES else None
    return {
        "max_rate_per_minute": max_rate,
        "blocked_prefixes": list(DEFAULT_BLOCKED),
        **dict.fromkeys(GUARDED_TYPES.values()),
    }


def fraud_guard_create(*, organisation: Organisation) -> FraudGuard:
    """The organisation's guards, with the defaults when it has none yet."""
    guard, _ = FraudGuard.objects.get_or_create(
        organisation=organisation, defaults=defaults_for(organisation.currency)
    )
    return guard


def fraud_guard_of(organisation: Organisation) -> FraudGuard:
    """The organisation's saved guards, or (unsaved) the defaults it would have."""
    guard = FraudGuard.objects.filter(organisation=organisation).first()
    return guard or FraudGuard(organisation=organisation, **defaults_for(organisation.currency))


def fraud_guards_save(
    *,
    organisation: Organisation,
    max_rate_per_minute: str | None,
    blocked_prefixes: list[str],
    max_call_seconds: Mapping[str, int | None],
) -> FraudGuard:
    """Replace the organisation's guards, all or nothing; FraudGuardError naming every invalid
    field. Every process applies them from its next authorization (this one at once)."""
    errors: dict[str, list[str]] = {}
    rate = _clean(errors, "max_rate_per_minute", _rate, max_rate_per_minute)
    blocked = _clean(errors, "blocked_prefixes", _blocked, blocked_prefixes)
    seconds = {}
    for key in max_call_seconds:
        if key not in GUARDED_TYPES:
            errors.setdefault("max_call_seconds", []).append(
                f"{str(key)[:40]!r} is not one of {', '.join(GUARDED_TYPES)}."
            )
    for call_type, column in GUARDED_TYPES.items():
        field = f"max_call_seconds.{call_type}"
        seconds[column] = _clean(errors, field, _seconds, max_call_seconds.get(call_type))
    if errors:
        first = next(iter(errors))
        raise FraudGuardError(errors[first][0], field=first, errors=errors)
    with transaction.atomic():
        guard, _ = FraudGuard.objects.update_or_create(
            organisation=organisation,
            defaults={
                "max_rate_per_minute": rate,
                "blocked_prefixes": blocked,
                "updated_at": timezone.now(),
                **seconds,
            },
        )
        version_changed(_version_key(organisation.pk))
    return guard


def fraud_guard_as_dict(guard: FraudGuard) -> dict[str, object]:
    """The guards as the API states them (and the audit log keeps them)."""
    rate = guard.max_rate_per_minute
    return {
        "max_rate_per_minute": None if rate is None else f"{rate:.4f}",
        "currency": str(guard.organisation.currency),
        "blocked_prefixes": list(guard.blocked_prefixes),
        "max_call_seconds": {t: getattr(guard, c) for t, c in GUARDED_TYPES.items()},
    }


def _clean(errors: dict[str, list[str]], field: str, clean, value):
    try:
        return clean(value)
    except ValueError as exc:
        errors.setdefault(field, []).append(str(exc))
        return None


def _rate(value: object) -> Decimal | None:
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else ""
    if not isinstance(value, str) or not _RATE.fullmatch(text):
        raise ValueError(
            "Enter a rate per minute such as 0.5000 (at most 4 decimals), or none for no limit."
        )
    rate = Decimal(text)  # digits and at most 4 decimals: nothing Decimal could refuse
    if rate >= GUARD_MAX_RATE:
        raise ValueError(f"A rate per minute must be less than {GUARD_MAX_RATE:,}.")
    return rate


def _blocked(values: object) -> list[str]:
    if not isinstance(values, list | tuple):
        raise ValueError("A list of E.164 prefixes (+882) and ISO countries (CU).")
    if len(values) > GUARD_MAX_BLOCKED:
        raise ValueError(f"At most {GUARD_MAX_BLOCKED} prefixes and countries.")
    kept: list[str] = []
    wrong: list[str] = []
    for value in values:
        entry = _blocked_entry(value)
        if entry is None:
            wrong.append(repr(value)[:24])
        elif entry not in kept:
            kept.append(entry)
    if wrong:
        raise ValueError(
            f"Not an E.164 prefix such as +882 nor an ISO country such as CU: {', '.join(wrong)}."
        )
    return kept


def _blocked_entry(value: object) -> str | None:
    """ "+882" or "CU" as written (a country in either case), or None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _PREFIX.fullmatch(text):
        return text
    if len(text) == 2 and text.isascii() and text.upper() in phonenumbers.SUPPORTED_REGIONS:
        return text.upper()
    return None


def _seconds(value: object) -> int | None:
    if value is None:
        return None
    low, high = GUARD_SECONDS
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"A whole number of seconds from {low} to {high:,}, or none for no limit.")
    return value


# What authorization asks, per call.


@dataclass(frozen=True)
class Guard:
    """An organisation's guards as authorization applies them."""

    max_rate: Decimal | None
    prefixes: tuple[str, ...]
    countries: frozenset[str]
    max_seconds: Mapping[str, int | None]

    def refusal(self, to: str, rate_per_minute: Decimal) -> str | None:
        """`destination_blocked` when a guard refuses a call to `to` at this rate, else None."""
        if is_emergency(to):
            return None
        if self.max_rate is not None and rate_per_minute > self.max_rate:
            return RefusalReason.DESTINATION_BLOCKED
        if self.prefixes and to.startswith(self.prefixes):
            return RefusalReason.DESTINATION_BLOCKED
        if self.countries and country_of(to) in self.countries:
            return RefusalReason.DESTINATION_BLOCKED
        return None

    def longest(self, call_type: str, to: str) -> int:
        """How long a call of this type to `to` may last at most, in seconds."""
        cap = settings.AUTHORIZATION_MAX_SECONDS
        limit = self.max_seconds.get(call_type)
        return cap if limit is None or is_emergency(to) else min(cap, limit)


def _guard_from(guard: FraudGuard) -> Guard:
    entries = guard.blocked_prefixes
    return Guard(
        max_rate=guard.max_rate_per_minute,
        prefixes=tuple(e for e in entries if e.startswith("+")),
        countries=frozenset(e for e in entries if not e.startswith("+")),
        max_seconds={t: getattr(guard, c) for t, c in GUARDED_TYPES.items()},
    )


# This process's copy of each organisation's guards, under the guards' version.
_GUARDS: ProcessCache[Guard] = ProcessCache("fraud guards", cap=100_000)


def _version_key(organisation_id: int) -> str:
    return f"fraud-guards-version:{organisation_id}"


def guard_for(organisation: Organisation) -> Guard:
    """The organisation's guards as saved at most a second ago (at once in the process that
    saved them): no query while the version holds."""
    return _GUARDS.get(
        organisation.pk,
        lambda: _guard_from(fraud_guard_of(organisation)),
        version=version_of(_version_key(organisation.pk), max_age=1.0),
    )


@lru_cache(maxsize=100_000)
def is_emergency(number: str) -> bool:
    """`number` is an emergency number written with its country code (+1911, +44999, +49112), by
    libphonenumber's short-number data for every region of that code."""
    if not _SHORT.fullmatch(number):
        return False
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    national = phonenumbers.national_significant_number(parsed)
    return any(
        shortnumberinfo.is_emergency_number(national, region)
        for region in phonenumbers.region_codes_for_country_code(parsed.country_code)
    )
