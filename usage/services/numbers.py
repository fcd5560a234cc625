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
    split = _built(value) if _PLAIN.fullmatch(value) else None
    if split is None:
        number = _parsed(value)
        split = number.country_code, phonenumbers.national_significant_number(number)
    code, national = split
    region = _region_of(code, national)
    if not _valid_for(code, region, national):
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


def _built(value: str) -> tuple[int, str] | None:
    """The country code and national significant number `phonenumbers.parse(value)` gives for
    "+digits" (its E.164 form being `value` itself), or None where parse might do more than
    split it: no country code, too short a national number, or one starting with what the
    country strips as a prefix. The national significant number is the digits after the code as
    they are: parse keeps their leading zeros (`italian_leading_zero`, all of them but the last
    digit of an all-zero number), and `national_significant_number` writes them back."""
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
    return code, national


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


# libphonenumber's validation, as it decides, with its regular expressions joined: a national
# number is valid for a region when it matches the general pattern and that of any number type
# (`_number_type_helper(...) != UNKNOWN`), each pattern counting only for the lengths its type
# allows. Joined per region and length, that is two matches instead of up to eleven, each
# through several layers of calls.
_TYPES = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
    "voicemail", "fixed_line", "mobile",
)  # fmt: skip


def _pattern(desc, length: int) -> str | None:
    """The desc's pattern if it may match a national number of this length (as
    `_is_number_matching_desc` decides), else None."""
    if desc is None or not desc.national_number_pattern:
        return None
    if len(desc.possible_length) > 0 and length not in desc.possible_length:
        return None
    return desc.national_number_pattern


@lru_cache(maxsize=10_000)
def _checks(code: int, region: str, length: int) -> tuple[re.Pattern, re.Pattern] | None:
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    general = _pattern(metadata.general_desc, length)
    kinds = [p for name in _TYPES if (p := _pattern(getattr(metadata, name), length))]
    if general is None or not kinds:
        return None
    return re.compile(general), re.compile("|".join(f"(?:{p})" for p in kinds))


def _valid_in(code: int, region: str, national: str) -> bool:
    """`_number_type_helper(national, metadata of region) != UNKNOWN`."""
    checks = _checks(code, region, len(national))
    return (
        checks is not None
        and checks[0].fullmatch(national) is not None
        and checks[1].fullmatch(national) is not None
    )


@lru_cache(maxsize=1_000)
def _leading(region: str) -> re.Pattern | None:
    metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
    if metadata is None or metadata.leading_digits is None:
        return None
    return re.compile(metadata.leading_digits)


def _region_of(code: int, national: str) -> str | None:
    """`phonenumbers.region_code_for_number`: the only region of its country code, or the first
    of them whose leading digits, or else whose patterns, the number matches."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(code)
    if regions is None:
        return None
    if len(regions) == 1:
        return regions[0]
    for region in regions:
        if PhoneMetadata.metadata_for_region(region.upper(), None) is None:
            continue
        leading = _leading(region)
        if leading is not None:
            if leading.match(national):
                return region
        elif _valid_in(code, region, national):
            return region
    return None


@lru_cache(maxsize=1_000)
def _region_has_code(code: int, region: str) -> bool:
    """`is_valid_number_for_region`'s first test: the region's metadata exists and is of this
    country code (non-geographic codes being their own)."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region.upper())
    if metadata is None:
        return False
    return region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY or (
        code == phonenumbers.country_code_for_valid_region(region)
    )


def _valid_for(code: int, region: str | None, national: str) -> bool:
    """`phonenumbers.is_valid_number_for_region`."""
    return (
        region is not None and _region_has_code(code, region) and _valid_in(code, region, national)
    )
