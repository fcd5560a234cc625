"""Amounts in a currency: parsing, precision and minor units. Decimal only, never float."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from moneyed import Money, get_currency

from billing.exceptions import BillingError


@cache
def minor_digits(currency: str) -> int:
    """Decimals the currency allows: 2 for USD, 0 for JPY, 3 for KWD."""
    sub_unit = get_currency(str(currency)).sub_unit or 1
    return len(str(sub_unit)) - 1


@cache
def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_digits(currency))


# Amount columns are NUMERIC(18, 4): at most 14 digits before the point.
MAX_INTEGER_DIGITS = 14

_AMOUNT_TEXT = re.compile(r"-?([0-9]{1,3}(,[0-9]{3})+|[0-9]+)(\.[0-9]+)?")


def parse_amount(value: object, currency: str, *, field: str = "amount") -> Decimal:
    """A positive amount with no more decimals than `currency` allows, or a BillingError."""
    if isinstance(value, float):
        raise TypeError("Money is never a float; pass a Decimal or a string.")
    if isinstance(value, Money):
        if str(value.currency) != str(currency):
            raise BillingError(f"The amount must be in {currency}.", field=field)
        value = value.amount
    text = str(value).strip()
    if isinstance(value, str):
        # As the portal shows amounts (1,250.00) or plain (1250.00); nothing else Decimal() takes
        # (1e3, 1_000, NaN) is an amount a person types.
        if not _AMOUNT_TEXT.fullmatch(text):
            raise BillingError("Enter an amount such as 50 or 1,250.00.", field=field)
        text = text.replace(",", "")
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        raise BillingError("Enter an amount such as 50 or 1,250.00.", field=field) from None
    if not amount.is_finite():
        raise BillingError("Enter an amount such as 50 or 1,250.00.", field=field)
    if amount <= 0:
        raise BillingError("The amount must be more than zero.", field=field)
    # Checked before rounding: Decimal cannot round a number longer than its 28-digit context.
    if amount.adjusted() >= MAX_INTEGER_DIGITS:
        raise BillingError("The amount is too large.", field=field)
    digits = minor_digits(currency)
    if amount != amount.quantize(quantum(currency), rounding=ROUND_HALF_UP):
        allowed = f"at most {digits} decimals" if digits else "no decimals"
        raise BillingError(f"{currency} amounts have {allowed}.", field=field)
    return amount.quantize(quantum(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Half-up to the currency's minor unit: the one rounding step, at rating."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def to_minor_units(amount: Decimal, currency: str) -> int:
    return int(amount.scaleb(minor_digits(currency)).to_integral_exact())


def from_minor_units(units: int, currency: str) -> Decimal:
    return Decimal(units).scaleb(-minor_digits(currency)).quantize(quantum(currency))


def format_money(amount: Decimal, currency: str) -> str:
    """`1,234.50 USD`: unambiguous in every locale the portal is read in."""
    digits = minor_digits(currency)
    return f"{amount.quantize(quantum(currency)):,.{digits}f} {currency}"


def amount_text(amount: Decimal, currency: str) -> str:
    """`1234.50`: the amount at its currency's precision, as the API and webhooks write it."""
    return str(amount.quantize(quantum(currency)))
