"""The rate card: longest-prefix match by call type, loaded from CSV."""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import phonenumbers
from django.db import transaction

from credits_portal.process_cache import ProcessCache
from credits_portal.versions import version_changed, version_of
from usage.models import CallType, Rate


class RateCardError(Exception):
    pass


def digits(number: str) -> str:
    return number.lstrip("+")


@lru_cache(maxsize=100_000)
def country_of(number: str) -> str:
    """The ISO country of an E.164 number ("" when libphonenumber cannot tell)."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(number, None)) or ""
    except phonenumbers.NumberParseException:
        return ""


class RateTable:
    """A currency's whole rate card in memory: a batch of 1,000 records asks it 1,000 times."""

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.rates = {
            (r.type, r.prefix): r
            for r in Rate.objects.filter(currency=currency).only("type", "prefix", "rate_per_unit")
        }
        self.longest = max((len(p) for _t, p in self.rates), default=0)

    def find(self, call_type: str, number: str) -> Rate | None:
        number = digits(number)
        for length in range(min(len(number), self.longest), -1, -1):
            rate = self.rates.get((call_type, number[:length]))
            if rate is not None:
                return rate
        return None


# Authorization's copy of each currency's card, in this process, under the card's version.
_TABLES: ProcessCache[RateTable] = ProcessCache("rate cards", cap=1_000)


def _version_key(currency: str) -> str:
    return f"rate-card-version:{currency}"


def rate_for(currency: str, call_type: str, number: str) -> Rate | None:
    """The rate of the longest prefix of `number` for this type, for authorizing a call (it
    sizes the call and its hold; ingest, which charges, reads the card itself). From a copy
    kept in this process, of the card's version as read at most a second ago."""
    version = version_of(_version_key(currency), max_age=1.0)
    table = _TABLES.get(currency, lambda: RateTable(currency), version=version)
    return table.find(call_type, number)


def rate_card_changed(currency: str) -> None:
    """Every process reloads the card for its next authorization."""
    version_changed(_version_key(str(currency)))


def parse_rate_card(text: str) -> list[tuple[str, str, Decimal]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    if header != ["prefix", "type", "rate_per_unit"]:
        raise RateCardError(
            f"The header must be prefix,type,rate_per_unit, not {','.join(header)}."
        )
    rows, seen = [], set()
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        line = reader.line_num
        if len(values) != 3:
            raise RateCardError(f"Line {line}: 3 values expected, {len(values)} found.")
        prefix, call_type, rate = (v.strip() for v in values)
        prefix = "" if prefix in ("*", "+") else prefix.lstrip("+")
        if not prefix.isdigit() and prefix != "":
            raise RateCardError(
                f"Line {line}: the prefix {values[0]!r} is not digits (or * for all)."
            )
        if call_type not in CallType.values:
            raise RateCardError(
                f"Line {line}: type {call_type!r} is not one of {', '.join(CallType.values)}."
            )
        try:
            value = Decimal(rate)
        except InvalidOperation:
            raise RateCardError(f"Line {line}: {rate!r} is not a rate such as 0.0230.") from None
        if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.0001")):
            raise RateCardError(f"Line {line}: a rate is zero or more, with at most 4 decimals.")
        if (prefix, call_type) in seen:
            raise RateCardError(f"Line {line}: a second rate for {call_type} +{prefix or '*'}.")
        seen.add((prefix, call_type))
        rows.append((prefix, call_type, value))
    if not rows:
        raise RateCardError("The rate card has no rates.")
    return rows


def rate_card_load(*, currency: str, text: str) -> int:
    """Replace the currency's rate card, all or nothing."""
    rows = parse_rate_card(text)
    with transaction.atomic():
        Rate.objects.filter(currency=currency).delete()
        Rate.objects.bulk_create(
            [Rate(currency=currency, prefix=p, type=t, rate_per_unit=r) for p, t, r in rows]
        )
        rate_card_changed(currency)
    return len(rows)
