"""Amounts as people type them, and as the portal shows them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.exceptions import BillingError
from billing.money import format_money, parse_amount


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("50", Decimal("50.00")),
        (" 50.5 ", Decimal("50.50")),
        ("1250.00", Decimal("1250.00")),
        ("1,250.00", Decimal("1250.00")),
        ("12,345,678", Decimal("12345678.00")),
        (Decimal("7.1"), Decimal("7.10")),
    ],
)
def test_amounts_as_typed_or_as_shown(text, amount):
    assert parse_amount(text, "USD") == amount


@pytest.mark.parametrize(
    "text",
    ["12,50", "1,25,000", "1,2500.00", "1e3", "1_000", "NaN", "", "$5", "\u0661\u0662\u0665\u0660"],
)
def test_other_text_is_not_an_amount(text):
    with pytest.raises(BillingError, match="amount such as") as refused:
        parse_amount(text, "USD", field="trigger_amount")
    assert refused.value.field == "trigger_amount"


def test_what_the_portal_shows_parses_back():
    shown = format_money(Decimal("1234567.5"), "USD")
    assert parse_amount(shown.removesuffix(" USD"), "USD") == Decimal("1234567.50")


def test_a_float_is_never_money():
    with pytest.raises(TypeError):
        parse_amount(12.5, "USD")


@pytest.mark.parametrize(
    "text", ["1" * 15, "1" * 30, "1" * 10_000, "99,999,999,999,999,999", "100000000000000.00"]
)
def test_an_amount_too_large_to_keep_is_refused_naming_the_field(text):
    # Past Decimal's context (a quantize error: a 500) or past what an amount column holds.
    with pytest.raises(BillingError, match="too large") as refused:
        parse_amount(text, "USD", field="credit_limit")
    assert refused.value.field == "credit_limit"


def test_the_largest_amount_a_column_holds_parses():
    assert parse_amount("99999999999999.99", "USD") == Decimal("99999999999999.99")
