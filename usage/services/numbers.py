"""The numbers of usage records: checked and placed in their country, once per number.

Ingest used to ask libphonenumber three times about every number (parse, validate, then parse
again for the country), about 40 % of its time once every call has a number of its own.
`number_of` asks once: for a plain "+digits" string, which is what every acceptable number is,
it builds the `PhoneNumber` that `phonenumbers.parse` would (country code, national number,
leading zeros) without parse's generic clean-up of free text, and learns its country and its
validity from one region lookup (`is_valid_number` is that lookup followed by
`is_valid_number_for_region`). Anything else, and the rare number that starts with what its
country's metadata could strip as a national prefix, goes through `phonenumbers.parse` as
before. tests/usage/test_services_numbers.py checks the answer equals libphonenumber's own on a
large sample of numbers of every region, NANP included.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, PhoneNumber

_PLAIN = re.compile(r"\+[1-9][0-9]{2,16}")  # what an E.164 string can be: 3 to 17 digits


class InvalidNumber(ValueError):
    pass


class Number(NamedTuple):
    e164: str  # "" when no number was given
    country: str  # ISO 3166 region ("001" for non-geographic codes), "" when none


NONE = Number("", "")


def number_of(value: str) -> Number:
    """The E.164 number `value` is (surrounding spaces aside) and its country, or InvalidNumber
    unless it is a valid number written exactly as E.164; "" gives an empty Number."""
    return _number_of((value or "").strip())


@lru_cache(maxsize=100_000)
def _number_of(value: str) -> Number:
    # Records repeat their users' own lines: each is worked out once per process.
    if not value:
        return NONE
    number = _built(value) if _PLAIN.fullmatch(value) else None
    if number is None:
        number = _parsed(value)
    region = phonenumbers.region_code_for_number(number)
    if not phonenumbers.is_valid_number_for_region(number, region):
        raise InvalidNumber(value)
    return Number(value, region or "")


def _parsed(value: str) -> PhoneNumber:
    """libphonenumber's own parse, for what `_built` leaves to it: a number whose E.164 form is
    not `value` is refused."""
    if not value.startswith("+"):
        raise InvalidNumber(value)
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise InvalidNumber(value) from None
    if phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) != value:
        raise InvalidNumber(value)
    return number


def _built(value: str) -> PhoneNumber | None:
    """The PhoneNumber `phonenumbers.parse(value)` gives for "+digits" (its E.164 form being
    `value` itself), or None where parse might do more than split it: no country code, too
    short a national number, or one starting with what the country strips as a prefix."""
    digits = value[1:]
    for length in (1, 2, 3):  # parse's _extract_country_code: the shortest code that exists
        code = int(digits[:length])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[length:]
    if len(national) < 2 or _may_strip(code, national):
        return None
    number = PhoneNumber(country_code=code, national_number=int(national))
    if len(national) > 1 and national[0] == "0":  # parse's _set_italian_leading_zeros...
        number.italian_leading_zero = True
        zeros = len(national) - len(national.lstrip("0"))
        zeros = min(zeros, len(national) - 1)  # an all-zero number keeps its last digit
        if zeros != 1:
            number.number_of_leading_zeros = zeros
    return number


@lru_cache(maxsize=1_000)
def _prefix_of(code: int) -> re.Pattern | None:
    """The national prefix parse would try to strip from a number of this country code."""
    region = phonenumbers.region_code_for_country_code(code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    if metadata is None:
        return re.compile("")  # parse would fail its assertion: leave the number to it
    pattern = metadata.national_prefix_for_parsing
    return re.compile(pattern) if pattern else None


def _may_strip(code: int, national: str) -> bool:
    prefix = _prefix_of(code)
    return prefix is not None and prefix.match(national) is not None
