"""Plans and pricing: the published rate card, each plan, and where plan minutes apply.

Everything here is read from the catalogue (licensing's products, prices and minute allotments)
and the rate card: the lookup answers with the line rating would use (`RateTable.find`, the
longest prefix for the call type), and availability applies the allotments as the pools do
(`licensing.services.allotment_applies`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

import phonenumbers
from django_countries import countries

from credits_portal.api_input import text_problem
from credits_portal.exceptions import PortalError
from licensing.models import MinuteAllotment, Pool, Product
from licensing.services import allotment_applies, catalogue, seat_prices
from usage.models import CallType, Rate
from usage.services.rates import RateTable

MAX_QUERY = 100
NUMBER = re.compile(r"^\+?[0-9]{1,15}$")
SEPARATORS = re.compile(r"[\s().-]")


class PricingError(PortalError):
    pass


@dataclass(frozen=True)
class RateLine:
    prefix: str
    type: str
    rate: Decimal
    currency: str

    @property
    def type_label(self) -> str:
        return CallType(self.type).label

    @property
    def unit(self) -> str:
        return "message" if self.type == CallType.SMS else "minute"

    @property
    def destination(self) -> str:
        """`+44 20 (United Kingdom)`; the empty prefix is every other destination."""
        if not self.prefix:
            return "Every other destination"
        # The calling code's main country first (phonenumbers lists it first), then a count.
        names = [str(countries.name(r)) or r for r in regions_of(self.prefix)]
        shown = ", ".join(names[:1]) + (f" and {len(names) - 1} more" if len(names) > 1 else "")
        return f"+{self.prefix}" + (f" ({shown})" if shown else "")


def regions_of(prefix: str) -> list[str]:
    """The countries a prefix dials: those of its country calling code (the first 1–3 digits)."""
    for length in (1, 2, 3):
        code = prefix[:length]
        if code.isdigit() and int(code) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return [r for r in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[int(code)] if r != "001"]
    return []


def _line(rate: Rate, currency: str) -> RateLine:
    return RateLine(rate.prefix, rate.type, rate.rate_per_unit, currency)


def rate_lines(*, currency: str, call_type: str | None = None) -> list[RateLine]:
    """The whole published card of `currency`, by type and prefix."""
    rates = Rate.objects.filter(currency=currency)
    if call_type:
        rates = rates.filter(type=call_type)
    return [_line(r, currency) for r in rates.order_by("type", "prefix")]


@dataclass
class Lookup:
    """What a search answered: for a number, the line rating would use for each type; for a
    country, its lines (every prefix under its calling code, and the line its code falls to)."""

    kind: str  # "number" or "country"
    label: str
    lines: list[RateLine] = field(default_factory=list)


def clean_query(query: str) -> str:
    query = (query or "").strip()
    problem = text_problem(query, MAX_QUERY)
    if problem:
        raise PricingError(problem, field="q")
    return query


def country_code_of(query: str) -> str | None:
    """The ISO code a search names: `GB`, `gb` or a country's name (`United Kingdom`)."""
    if len(query) == 2 and query.isalpha() and query.upper() in dict(countries):
        return query.upper()
    return countries.by_name(query) or None


def rate_lookup(*, currency: str, query: str, call_type: str | None = None) -> Lookup | None:
    """Answer "what does a call to +44 20 cost?" or "…to Germany?"; None when the search is
    neither a number nor a country. `call_type` keeps one type."""
    query = clean_query(query)
    if call_type and call_type not in CallType.values:
        raise PricingError(f"A type is one of {', '.join(CallType.values)}.", field="type")
    types = [call_type] if call_type else list(CallType.values)
    table = RateTable(currency)
    number = SEPARATORS.sub("", query)
    if NUMBER.match(number):
        digits = number.lstrip("+")
        found = [table.find(t, digits) for t in types]
        return Lookup("number", f"+{digits}", [_line(r, currency) for r in found if r is not None])
    region = country_code_of(query)
    if region is None:
        return None
    code = str(phonenumbers.country_code_for_region(region))
    lines: list[RateLine] = []
    for t in types:
        country_line = table.find(t, code)
        specific = sorted(
            (r for (rt, prefix), r in table.rates.items() if rt == t and prefix.startswith(code)),
            key=lambda r: r.prefix,
        )
        chosen = specific if country_line in specific else [country_line, *specific]
        lines += [_line(r, currency) for r in chosen if r is not None]
    return Lookup("country", f"{countries.name(region)} (+{code})", lines)


@dataclass(frozen=True)
class Plan:
    product: Product
    price: Decimal | None
    includes: list[Product]
    requires_any: list[Product]
    minutes: list[MinuteAllotment]  # its own and those of the licenses it includes


def plans(*, currency: str) -> list[Plan]:
    """Every license of the catalogue: its price per seat and month, what it includes, what it
    needs, and the minutes it adds."""
    products = catalogue()
    prices = seat_prices(currency)
    allotments = list(MinuteAllotment.objects.select_related("product"))
    result = []
    for product in products.values():
        included = list(product.includes.all())
        covered = {product.pk} | {p.pk for p in included}
        result.append(
            Plan(
                product=product,
                price=prices.get(product.pk),
                includes=included,
                requires_any=list(product.requires_any.all()),
                minutes=[a for a in allotments if a.product_id in covered],
            )
        )
    return result


@dataclass(frozen=True)
class Minutes:
    product: Product
    pool: str
    minutes: int
    through: Product | None = None  # the license that adds them, when a bundle includes it

    @property
    def pool_label(self) -> str:
        return Pool(self.pool).label


@dataclass(frozen=True)
class CountryAvailability:
    country: str  # ISO code; "" for every country no allotment names
    name: str
    minutes: list[Minutes]


def minutes_for_country(country: str) -> list[Minutes]:
    """What each license adds, per user whose usage location is `country`, to which pool."""
    products = catalogue()
    allotments = list(MinuteAllotment.objects.select_related("product"))
    rows = []
    for product in products.values():
        sources = [(product, None)] + [(p, p) for p in product.includes.all()]
        for source, through in sources:
            for allotment in allotments:
                if allotment.product_id == source.pk and allotment_applies(
                    allotment, country, allotments
                ):
                    rows.append(Minutes(product, allotment.pool, allotment.minutes, through))
    return rows


def availability(*, country: str | None = None) -> list[CountryAvailability]:
    """For each country an allotment names, and for every other country, which plans add minutes
    and how many to which pool; or for one `country` only."""
    if country:
        return [
            CountryAvailability(country, str(countries.name(country)), minutes_for_country(country))
        ]
    named = sorted(
        {
            code.strip()
            for text in MinuteAllotment.objects.values_list("countries", flat=True)
            for code in text.split(",")
            if code.strip()
        }
    )
    rows = [
        CountryAvailability(c, str(countries.name(c)) or c, minutes_for_country(c)) for c in named
    ]
    rows.append(CountryAvailability("", "Every other country", minutes_for_country("")))
    return rows
