"""Issue 19, item 3: toll-fraud guards, through the real authorize endpoint: dearer and blocked
destinations refused with `destination_blocked` (and counted in the refused-calls report), the
longest call per type shortening `max_seconds` and what the call holds, emergency numbers never
refused, defaults for new and existing organisations, and the per-process copy of the guards."""

from __future__ import annotations

import importlib
from decimal import Decimal

import phonenumbers
import pytest
from django.apps import apps
from django.urls import reverse

from billing.models import Reservation
from credits_portal import process_cache
from credits_portal.permissions import Role
from credits_portal.versions import _renew
from tests.builders import DEMO_RATE_CARD, grant, make_org
from usage.models import FraudGuard, MinuteHold, RefusedCall
from usage.services import fraud_guards
from usage.services.fraud_guards import (
    DEFAULT_BLOCKED,
    fraud_guard_of,
    fraud_guards_save,
    guard_for,
    is_emergency,
)
from usage.services.rates import parse_rate_card

pytestmark = pytest.mark.django_db
UK = "+442071838750"  # outbound 0.0210 (+4420)
JP = "+81312345678"  # outbound 0.0600
US = "+14255550123"  # outbound 0.0190
FR = "+33142685300"  # the catch-all rate, 0.2400


def e164(number) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


SATELLITE = e164(phonenumbers.example_number_for_non_geo_entity(881))  # +881…
NETWORKS = e164(phonenumbers.example_number_for_non_geo_entity(882))  # +882…
CUBA = e164(phonenumbers.example_number("CU"))
JAMAICA = e164(phonenumbers.example_number("JM"))  # +1876…: NANP, another country than the US


def ask(platform, to, call_type="outbound", upn="ana@contoso.example") -> dict:
    response = platform("/calls/authorize", {"user": upn, "type": call_type, "to": to})
    assert response.status_code == 200, response.content
    return response.json()


def save(organisation, *, rate=None, blocked=(), seconds=None) -> FraudGuard:
    return fraud_guards_save(
        organisation=organisation,
        max_rate_per_minute=rate,
        blocked_prefixes=list(blocked),
        max_call_seconds=seconds or {},
    )


@pytest.fixture
def ana(person, rated):
    """A US user with a domestic plan, international minutes and credits to spend."""
    grant(rated, "100")
    return person("ana", "US", "PHONE_SYSTEM", "CALLING_INTL", "AUDIO_CONF", "COMMS_CREDITS")


def test_a_destination_dearer_than_the_maximum_rate_is_refused(platform, ana, rated):
    save(rated, rate="0.0500")
    refused = ask(platform, JP)  # 0.0600
    assert (refused["allowed"], refused["reason"], refused["max_seconds"]) == (
        False,
        "destination_blocked",
        0,
    )
    assert refused["rate_per_minute"] == "0.0600" and refused["authorization_id"] is None
    assert not Reservation.objects.exists() and not MinuteHold.objects.exists()  # nothing held
    assert ask(platform, UK)["allowed"]  # 0.0210
    # The rate is the call type's: toll-free dial-in to the UK costs 0.0480, to Japan 0.1200.
    assert ask(platform, "+448081570000", call_type="toll_free_dial_in")["allowed"]
    assert ask(platform, "+81120123456", call_type="toll_free_dial_in")["reason"] == (
        "destination_blocked"
    )


def test_a_rate_equal_to_the_maximum_passes(platform, ana, rated):
    save(rated, rate="0.0600")
    assert ask(platform, JP)["allowed"]
    save(rated, rate="0")  # only free destinations
    assert ask(platform, JP)["reason"] == "destination_blocked"


def test_blocked_prefixes_and_countries_are_refused(platform, ana, rated):
    save(rated, blocked=["+81", "CU", "jm"])
    assert ask(platform, JP)["reason"] == "destination_blocked"
    assert ask(platform, CUBA)["reason"] == "destination_blocked"
    assert ask(platform, JAMAICA)["reason"] == "destination_blocked"  # +1, by its country
    assert ask(platform, US)["allowed"]  # +1 as well, another country
    assert ask(platform, UK)["allowed"]
    # Every call type: a meeting dialling out to a blocked destination too.
    assert ask(platform, JP, call_type="conference_dial_out")["reason"] == "destination_blocked"


def test_a_new_organisation_blocks_the_premium_and_satellite_ranges(platform, ana, rated):
    guard = FraudGuard.objects.get(organisation=rated)  # made with the organisation
    assert (
        guard.blocked_prefixes == list(DEFAULT_BLOCKED) == ["+870", "+881", "+882", "+883", "+979"]
    )
    assert guard.max_rate_per_minute == Decimal("1.0000")
    assert (guard.max_seconds_outbound, guard.max_seconds_conference_dial_out) == (None, None)
    assert guard.max_seconds_toll_free_dial_in is None
    # The shipped card prices them with its catch-all rate: only the guard refuses them.
    for number in (SATELLITE, NETWORKS):
        assert ask(platform, number)["reason"] == "destination_blocked"
        assert ask(platform, number, call_type="conference_dial_out")["reason"] == (
            "destination_blocked"
        )
    assert ask(platform, FR)["allowed"]  # 0.2400, the catch-all: under the default 1.0000


def test_the_default_maximum_rate_allows_every_rate_of_the_shipped_card(rated):
    guard = guard_for(rated)
    rates = parse_rate_card(DEMO_RATE_CARD.read_text())
    assert max(rate for _p, t, rate in rates if t != "sms") == Decimal("0.3000")
    for prefix, call_type, rate in rates:
        if call_type != "sms":
            assert guard.refusal(f"+{prefix or '33'}12345678", rate) is None, (prefix, call_type)
    assert guard.refusal("+3312345678", Decimal("1.0001")) == "destination_blocked"


def test_the_default_maximum_rate_is_for_currencies_of_about_a_dollar_or_more(db):
    assert FraudGuard.objects.get(organisation=make_org("eu", currency="EUR")).max_rate_per_minute
    yen = FraudGuard.objects.get(organisation=make_org("jp", currency="JPY", country="JP"))
    assert yen.max_rate_per_minute is None  # 1 yen a minute would refuse ordinary calls
    assert yen.blocked_prefixes == list(DEFAULT_BLOCKED)


def test_the_migration_gives_existing_organisations_the_defaults(rated, other_org):
    FraudGuard.objects.filter(organisation=rated).delete()  # as before the guards existed
    mine = save(other_org, rate="0.1000", blocked=["CU"])
    migration = importlib.import_module("usage.migrations.0013_fraud_guards")
    migration.default_guards(apps, None)
    guard = FraudGuard.objects.get(organisation=rated)
    assert (guard.max_rate_per_minute, guard.blocked_prefixes) == (
        Decimal("1.0000"),
        list(DEFAULT_BLOCKED),
    )
    theirs = FraudGuard.objects.get(organisation=other_org)  # saved guards are kept
    assert (theirs.max_rate_per_minute, theirs.blocked_prefixes) == (
        mine.max_rate_per_minute,
        ["CU"],
    )


def test_an_organisation_without_a_row_gets_the_defaults(rated):
    FraudGuard.objects.filter(organisation=rated).delete()
    guard = fraud_guard_of(rated)
    assert guard.pk is None and guard.blocked_prefixes == list(DEFAULT_BLOCKED)
    assert guard_for(rated).refusal(NETWORKS, Decimal("0.24")) == "destination_blocked"


def test_the_longest_call_per_type_shortens_max_seconds_and_what_is_held(platform, ana, rated):
    save(rated, seconds={"outbound": 600, "toll_free_dial_in": 1200})
    pool = ask(platform, US)  # domestic plan minutes
    assert (pool["funded_by"], pool["max_seconds"]) == ("plan_minutes", 600)
    assert MinuteHold.objects.get(code=pool["authorization_id"]).minutes == 10
    international = ask(platform, FR)  # CALLING_INTL's international minutes
    assert (international["funded_by"], international["max_seconds"]) == ("plan_minutes", 600)
    tf = ask(platform, "+18005550100", call_type="toll_free_dial_in")  # credits only
    assert (tf["funded_by"], tf["max_seconds"]) == ("credits", 1200)
    # Held for 20 minutes at 0.0360, not for the platform's 4 hours.
    assert Reservation.objects.get(code=tf["authorization_id"]).amount == Decimal("0.72")
    meeting = ask(platform, UK, call_type="conference_dial_out")
    assert meeting["max_seconds"] == 14400  # no limit for this type: the platform's


def test_a_limit_above_the_platforms_changes_nothing(platform, ana, rated, settings):
    settings.AUTHORIZATION_MAX_SECONDS = 3600
    save(rated, seconds={"outbound": 7200})
    assert ask(platform, US)["max_seconds"] == 3600


@pytest.mark.parametrize("number", ["+1911", "+44999", "+44112", "+49112", "+33112"])
def test_emergency_numbers_are_never_refused_nor_shortened(platform, ana, rated, number):
    save(
        rated,
        rate="0",
        blocked=["+1", "+3", "+4", "US", "GB", "DE", "FR"],
        seconds={"outbound": 60},
    )
    body = ask(platform, number)
    assert body["allowed"] and body["reason"] == "ok", body
    assert body["max_seconds"] == 14400
    assert not RefusedCall.objects.exists()


def test_what_is_an_emergency_number():
    assert all(is_emergency(n) for n in ("+1911", "+44999", "+44112", "+49112", "+61000"))
    for number in ("+14255550100", "+1911555", "+1912", "911", "+44 999", "", "+\x00", "+9" * 9):
        assert not is_emergency(number), number


def test_a_refusal_appears_in_the_refused_calls_report(platform, ana, rated, client_as):
    save(rated, rate="0.0500")
    for _ in range(3):
        ask(platform, JP)
    ask(platform, NETWORKS)
    row = RefusedCall.objects.get(reason="destination_blocked")
    assert (row.upn, row.type, row.count, row.to_number, row.to_country) == (
        "ana@contoso.example",
        "outbound",
        4,
        NETWORKS,
        "",  # a non-geographic number has no country (libphonenumber's "001" is not one)
    )
    page = client_as(Role.BILLING).get(
        reverse("usage:refused_calls"), {"reason": "destination_blocked"}
    )
    assert page.status_code == 200
    assert "Destination blocked by a toll-fraud guard" in page.content.decode()
    [(shown, action)] = page.context["rows"]
    assert shown == row and "toll-fraud guard" in action.text
    assert action.url == reverse("usage:fraud_guards")  # for an admin who may change them
    [(_row, action)] = client_as(Role.REPORTS).get(reverse("usage:refused_calls")).context["rows"]
    assert "toll-fraud guard" in action.text and action.url is None
    export = client_as(Role.BILLING).get(reverse("usage:refused_calls_export"))
    lines = b"".join(export.streaming_content).decode()
    assert "Destination blocked by a toll-fraud guard" in lines and "Fraud guards" in lines


def test_authorization_reads_the_guards_without_a_query(rated, django_assert_num_queries):
    guard_for(rated)
    with django_assert_num_queries(0):
        for _ in range(100):
            guard_for(rated).refusal(UK, Decimal("0.0210"))


def test_a_saved_change_applies_to_the_next_call_at_once(platform, ana, rated):
    assert ask(platform, JP)["allowed"]
    save(rated, blocked=["JP"])
    assert ask(platform, JP)["reason"] == "destination_blocked"
    save(rated)
    assert ask(platform, JP)["allowed"]


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        now = 1_000.0

    clock = Clock()
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: clock.now)
    return clock


def test_another_process_sees_a_change_within_the_second(rated, clock):
    assert guard_for(rated).refusal(JP, Decimal("0.06")) is None
    # Another process saved: the row and the shared version changed, not this process's copy.
    FraudGuard.objects.filter(organisation=rated).update(blocked_prefixes=["JP"])
    _renew(fraud_guards._version_key(rated.pk))
    clock.now += 0.5
    assert guard_for(rated).refusal(JP, Decimal("0.06")) is None  # the version read 0.5 s ago
    clock.now += 0.6
    assert guard_for(rated).refusal(JP, Decimal("0.06")) == "destination_blocked"


def test_guards_are_per_organisation(platform, ana, rated, other_org):
    save(other_org, blocked=["+44"])
    assert ask(platform, UK)["allowed"]
    assert guard_for(other_org).refusal(UK, Decimal("0.02")) == "destination_blocked"
