"""Plans and pricing: the lookup answers with the line rating uses; availability and plans are
read from the catalogue, so an operator's edit shows at once (no copy)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from licensing.models import MinuteAllotment, Product, ProductPrice
from tests.builders import demo_rate_card
from usage.services.pricing import PricingError, availability, plans, rate_lookup
from usage.services.rates import RateTable

pytestmark = pytest.mark.django_db


@pytest.fixture
def card(db):
    demo_rate_card()


def prefixes(lookup) -> list[tuple[str, str]]:
    return [(line.type, line.prefix) for line in lookup.lines]


@pytest.mark.parametrize(
    "query, prefix",
    [
        ("+44 20", "4420"),
        ("+44 20 7183 8750", "4420"),
        ("+44 161", "44"),
        ("442", "44"),
        ("+1 (425) 555-0100", "1"),
        ("+999 1", ""),
    ],
)
def test_a_number_answers_the_longest_prefix_line(card, query, prefix):
    lookup = rate_lookup(currency="USD", query=query, call_type="outbound")
    assert prefixes(lookup) == [("outbound", prefix)]
    digits = "".join(c for c in query if c.isdigit())
    # The very line rating charges with.
    rated = RateTable("USD").find("outbound", digits)
    assert lookup.lines[0].rate == rated.rate_per_unit


def test_a_number_without_a_type_answers_each_type(card):
    lookup = rate_lookup(currency="USD", query="+4420")
    assert {t for t, _p in prefixes(lookup)} >= {
        "outbound",
        "conference_dial_out",
        "toll_free_dial_in",
    }
    assert ("outbound", "4420") in prefixes(lookup)


@pytest.mark.parametrize("query", ["United Kingdom", "GB", "gb"])
def test_a_country_answers_every_line_under_its_calling_code(card, query):
    lookup = rate_lookup(currency="USD", query=query, call_type="outbound")
    assert prefixes(lookup) == [("outbound", "44"), ("outbound", "4420")]
    assert lookup.label.startswith("United Kingdom")


def test_a_country_without_its_own_line_gets_the_line_its_code_falls_to(card):
    lookup = rate_lookup(currency="USD", query="France", call_type="outbound")
    assert prefixes(lookup) == [("outbound", "")]
    assert lookup.lines[0].rate == Decimal("0.2400")


def test_neither_a_number_nor_a_country_is_none(card):
    assert rate_lookup(currency="USD", query="Atlantis") is None


@pytest.mark.parametrize("query", ["\x00", "x" * 10_000, "\ud800"])
def test_a_hostile_query_names_the_field(card, query):
    with pytest.raises(PricingError) as refused:
        rate_lookup(currency="USD", query=query)
    assert refused.value.field == "q"


def test_another_currency_has_its_own_card(card):
    assert rate_lookup(currency="EUR", query="+4420").lines == []


def _minutes(row) -> set[tuple[str, str, int]]:
    return {(m.product.sku, m.pool, m.minutes) for m in row.minutes}


def test_availability_is_derived_from_the_minute_allotments(db):
    rows = {row.country: row for row in availability()}
    assert set(rows) == {"CA", "PR", "US", ""}
    assert ("CALLING_DOMESTIC", "domestic", 3000) in _minutes(rows["US"])
    assert ("CALLING_DOMESTIC", "domestic", 1200) in _minutes(rows[""])
    assert ("CALLING_INTL", "international", 600) in _minutes(rows["US"])
    # E5 adds Audio Conferencing's dial-out minutes, through the license it includes.
    e5 = [m for m in rows[""].minutes if m.product.sku == "E5"]
    assert [(m.pool, m.minutes, m.through.sku) for m in e5] == [
        ("conference_dial_out", 60, "AUDIO_CONF")
    ]

    # An operator edits the catalogue: the page follows, nothing was copied.
    domestic = Product.objects.get(sku="CALLING_DOMESTIC")
    MinuteAllotment.objects.filter(product=domestic, countries="US,CA,PR").update(minutes=2500)
    MinuteAllotment.objects.create(product=domestic, pool="domestic", minutes=900, countries="GB")
    rows = {row.country: row for row in availability()}
    assert ("CALLING_DOMESTIC", "domestic", 2500) in _minutes(rows["US"])
    assert ("CALLING_DOMESTIC", "domestic", 900) in _minutes(rows["GB"])
    assert ("CALLING_DOMESTIC", "domestic", 1200) not in _minutes(rows["GB"])
    assert {r.country for r in availability(country="DE")} == {"DE"}
    assert ("CALLING_DOMESTIC", "domestic", 1200) in _minutes(availability(country="DE")[0])


def test_plans_state_price_includes_and_prerequisites(db):
    by_sku = {plan.product.sku: plan for plan in plans(currency="EUR")}
    assert by_sku["PHONE_SYSTEM"].price == Decimal("7.40")
    assert [p.sku for p in by_sku["E5"].includes] == ["AUDIO_CONF", "PHONE_SYSTEM"]
    assert [p.sku for p in by_sku["CALLING_INTL"].requires_any] == ["PHONE_SYSTEM"]
    assert {a.pool for a in by_sku["CALLING_INTL"].minutes} == {"domestic", "international"}
    ProductPrice.objects.filter(product__sku="PHONE_SYSTEM", currency="EUR").update(
        per_seat_month=Decimal("7.90")
    )
    assert plans(currency="EUR")[1].price == Decimal("7.90")
