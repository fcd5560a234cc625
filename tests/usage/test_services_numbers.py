"""number_of gives exactly what libphonenumber's full parse and validation give, on a large
sample of numbers of every region (NANP included), valid and invalid, and on hostile text."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from licensing.exceptions import LicensingError
from licensing.validation import clean_phone
from usage.services import numbers
from usage.services.numbers import InvalidNumber, Number, number_of
from usage.services.rates import country_of

TYPES = [t for t in vars(PhoneNumberType).values() if isinstance(t, int) and t >= 0]


def reference(value: str) -> Number | None:
    """What ingest computed before, from libphonenumber only: clean_phone's check (parse, the
    E.164 form equal to what was sent, is_valid_number), then the country of a fresh parse
    (rates.country_of). None: refused."""
    value = value.strip()
    if not value:
        return Number("", "")
    if not value.startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if e164 != value or not phonenumbers.is_valid_number(parsed):
        return None
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    return Number(e164, region or "")


def answer(value: str) -> Number | None:
    numbers._number_of.cache_clear()  # every value is worked out, not remembered
    try:
        return number_of(value)
    except InvalidNumber:
        return None


def examples() -> list[str]:
    """libphonenumber's example number of every type of every region and non-geographic code."""
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                found.append(phonenumbers.format_number(example, 0))
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            found.append(phonenumbers.format_number(example, 0))
    return sorted(set(found))


def variants(e164: str, rng: random.Random) -> list[str]:
    """Numbers near a valid one: other digits behind its first ones, a digit fewer or more,
    a national prefix or zeros written after the country code, spaced or unprefixed forms."""
    parsed = phonenumbers.parse(e164, None)
    code = str(parsed.country_code)
    national = phonenumbers.national_significant_number(parsed)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
        parsed.country_code, phonenumbers.region_code_for_country_code(parsed.country_code)
    )
    prefix = (metadata.national_prefix or "") if metadata else ""
    out = []
    for kept in (1, 2, 3, len(national) - 4, len(national) - 2):
        for _ in range(4):
            tail = "".join(rng.choice("0123456789") for _ in national[max(kept, 0) :])
            out.append(f"+{code}{national[: max(kept, 0)]}{tail}")
    out += [
        f"+{code}{national[:-1]}",
        f"+{code}{national}{rng.randrange(10)}",
        f"+{code}{national}00",
        f"+{code}0{national}",
        f"+{code}00{national}",
        f"+{code}{prefix}{national}",
        f"+{code}{prefix}{national[:-1]}",
        f"+{code}1{national}",
        f"+{code}8{national}",
        f"+{code}9{national}",
        f" +{code}{national} ",
        f"+{code} {national}",
        f"00{code}{national}",
        f"{code}{national}",
        f"+0{code}{national}",
        f"+{code}{national}".translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    ]
    return out


def nanp(rng: random.Random, count: int) -> list[str]:
    """Random North American numbers: every NANP region shares +1 and is told apart by its
    patterns, the costliest case of all."""
    return [
        "+1" + "".join(rng.choice("0123456789") for _ in range(rng.choice((9, 10, 10, 10, 11))))
        for _ in range(count)
    ]


HOSTILE = [
    "", " ", "+", "++1", "+0", "+00", "+1", "+12", "+123", "+1234", "+999", "+9999999",
    "+" + "9" * 17, "+" + "1" * 18, "+" + "4" * 30, "+44 20 7183 8750", "+44-20-7183-8750",
    "tel:+442071838750", "+442071838750;ext=12", "+442071838750 x12", "+4420718387500000000",
    "abc", "+1 (425) 555-0100", "+1425555O100", "+14255550100\u200b", "+٤٤٢٠٧١٨٣٨٧٥٠",
    "+800 1234 5678", "+80012345678", "+8080", "+979123456789", "+882", "+88213",
    "+3912345678", "+39061234567", "+390612345678", "+2250123456789", "+54 9 11 1234 5678",
    "+5491112345678", "+541112345678", "+5215512345678", "+525512345678", "+78001234567",
    "+77001234567", "+0442071838750",
]  # fmt: skip


def sample() -> list[str]:
    rng = random.Random(16)
    values = list(HOSTILE)
    for e164 in examples():
        values.append(e164)
        values += variants(e164, rng)
    values += nanp(rng, 5000)
    return values


def test_number_of_equals_libphonenumbers_answer_on_a_large_sample():
    values = sample()
    valid = {}
    mismatches = []
    for value in values:
        expected = reference(value)
        if answer(value) != expected:
            mismatches.append((value, expected, answer(value)))
        if expected is not None and expected.country:
            valid[expected.country] = valid.get(expected.country, 0) + 1
    assert mismatches == []
    # The sample is large and both sides of the line are in it: most regions' numbers accepted,
    # every shared country code's regions told apart (the NANP, +7, +44, +47, +590, ...).
    assert len(values) > 30_000
    assert sum(valid.values()) > 8_000 and len(values) - sum(valid.values()) > 8_000
    assert len(valid) > 230
    assert {"US", "CA", "PR", "JM", "AG", "BS", "KZ", "RU", "GG", "JE", "IM", "SJ", "001"} <= set(
        valid
    )


def test_most_numbers_skip_the_full_parse():
    """The point of it: a plain E.164 number is built, not parsed, almost always."""
    values = [v.strip() for v in sample() if reference(v) is not None and v.strip()]
    built = [v for v in values if numbers._PLAIN.fullmatch(v) and numbers._built(v) is not None]
    assert len(built) > 0.95 * len(values)


@pytest.mark.parametrize(
    "value",
    ["+14255550100", "+442071838750", "+16135550123", "+18765550123", "+12684601234", ""],
)
def test_the_same_as_clean_phone_and_country_of(value):
    """Ingest's answer before: clean_phone's number, then rates.country_of on it."""
    assert number_of(value) == (clean_phone(value), country_of(value) if value else "")


@pytest.mark.parametrize("value", ["+1425555010", "+4420718387500", "+440207183875", "nope"])
def test_refused_like_clean_phone(value):
    with pytest.raises(LicensingError):
        clean_phone(value)
    with pytest.raises(InvalidNumber):
        number_of(value)
