"""Every branch of the decision table, through POST /api/v1/calls/authorize."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from billing.models import Reservation
from billing.services.ledger import funds_debit
from billing.services.reservations import available, reservations_release_expired
from tests.builders import DEMO_RATE_CARD, account_of, grant, make_api_key
from tests.processes import at_once
from usage.models import MinuteHold, PoolUsage
from usage.services.authorize import call_authorize
from usage.services.rates import rate_card_load

pytestmark = pytest.mark.django_db
UK = "+442071838750"
US = "+14255550123"


def ask(platform, upn, to=UK, call_type="outbound"):
    response = platform(
        "/calls/authorize", {"user": upn, "type": call_type, "to": to, "from": "+14255550100"}
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_plan_minutes_first(platform, person):
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    body = ask(platform, "ana@contoso.example", to=US)
    assert body["allowed"] and body["funded_by"] == "plan_minutes" and body["reason"] == "ok"
    assert body["max_seconds"] == 14400  # 3,000 pool minutes, capped at 4 hours
    assert body["rate_per_minute"] == "0.0190" and body["currency"] == "USD"
    assert body["authorization_id"].startswith("auth_")


def test_a_partly_used_pool_then_credits(platform, person, rated):
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    PoolUsage.objects.create(
        organisation=rated,
        month=datetime.now(UTC).date().replace(day=1),
        category="domestic",
        country="GB",
        used=1190,
    )
    grant(rated, "0.46")  # buys 21 minutes to London (+4420) at 0.0210
    body = ask(platform, "ana@contoso.example")
    assert body["funded_by"] == "plan_minutes" and body["max_seconds"] == 60 * (10 + 21)
    # The 10 pool minutes and the 21 beyond (0.441, rounded up) are held, so a second call
    # cannot spend either again.
    assert Reservation.objects.get(code=body["authorization_id"]).amount == Decimal("0.45")
    assert MinuteHold.objects.get(code=body["authorization_id"]).minutes == 10
    assert available(account_of(rated)) == Decimal("0.01")
    second = ask(platform, "ana@contoso.example")
    assert (second["allowed"], second["reason"]) == (False, "insufficient_balance")
    assert Reservation.objects.count() == MinuteHold.objects.count() == 1


def test_credits_when_no_plan_covers_it(platform, person, rated):
    person(
        "ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS"
    )  # domestic plan, calls UK
    grant(rated, "1.00")
    body = ask(platform, "ana@contoso.example")
    assert body["funded_by"] == "credits" and body["max_seconds"] == 47 * 60  # floor(1.00 / 0.021)
    assert body["rate_per_minute"] == "0.0210"
    reservation = Reservation.objects.get(code=body["authorization_id"])
    assert reservation.amount == Decimal("0.99") and reservation.status == "open"
    assert available(account_of(rated)) == Decimal("0.01")


def test_no_credits_license(platform, person, rated):
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    grant(rated, "10")
    body = ask(platform, "ana@contoso.example")
    assert (body["allowed"], body["reason"], body["funded_by"], body["max_seconds"]) == (
        False,
        "no_credits_license",
        "none",
        0,
    )


def test_balance_zero_or_in_debt(platform, person, rated):
    person("ana", "US", "AUDIO_CONF", "COMMS_CREDITS")
    assert (
        ask(platform, "ana@contoso.example", call_type="toll_free_dial_in")["reason"]
        == "insufficient_balance"
    )
    grant(rated, "1")
    funds_debit(account=account_of(rated), amount=Decimal("3"), reference="x")
    assert (
        ask(platform, "ana@contoso.example", call_type="toll_free_dial_in")["reason"]
        == "insufficient_balance"
    )


def test_new_commerce_overage(client, nia):
    response = client.post(
        "/api/v1/calls/authorize",
        {"user": "nia@newco.example", "type": "outbound", "to": UK},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {make_api_key(nia, 'platform')}",
    )
    body = response.json()
    assert body["allowed"] and body["funded_by"] == "overage" and body["max_seconds"] == 14400
    assert not Reservation.objects.exists()


def test_unrated_destination(platform, person, rated):
    card = DEMO_RATE_CARD.read_text().splitlines()
    rate_card_load(currency="USD", text="\n".join(x for x in card if not x.startswith("*")))
    person("ana", "US", "PHONE_SYSTEM", "CALLING_INTL", "COMMS_CREDITS")
    assert (
        ask(platform, "ana@contoso.example", to="+33142685300")["reason"] == "destination_not_rated"
    )


def test_unknown_user_and_no_license(platform, person):
    assert ask(platform, "ghost@contoso.example")["reason"] == "unknown_user"
    person("ana", "US", "AUDIO_CONF")
    assert (
        ask(platform, "ana@contoso.example")["reason"] == "no_license"
    )  # outbound needs Phone System


def test_conference_dial_out_uses_the_conference_pool(platform, person):
    person("ana", "US", "E5")  # E5 includes Audio Conferencing: 60 pooled minutes
    body = ask(platform, "ana@contoso.example", call_type="conference_dial_out")
    assert body["funded_by"] == "plan_minutes" and body["max_seconds"] == 3600


@pytest.mark.parametrize(
    "payload",
    [
        {"user": "a@x.example", "type": "fax", "to": UK},
        {"user": "a@x.example", "type": "outbound", "to": "12345"},
        {"type": "outbound", "to": UK},
        {"user": "a\x00@x.example", "type": "outbound", "to": UK},
        {"user": "\ud800@x.example", "type": "outbound", "to": UK},
    ],
)
def test_malformed_requests_are_422(platform, payload):
    assert platform("/calls/authorize", payload).status_code == 422


def test_pools_reset_each_month(person, rated):
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    PoolUsage.objects.create(
        organisation=rated,
        month=datetime(2026, 11, 1).date(),
        category="domestic",
        country="GB",
        used=1200,
    )
    with time_machine.travel(datetime(2026, 11, 30, 23, 59, tzinfo=UTC)):
        assert (
            call_authorize(
                organisation=rated, upn="ana@contoso.example", call_type="outbound", to=UK
            ).reason
            == "no_credits_license"
        )
    with time_machine.travel(datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)):
        decision = call_authorize(
            organisation=rated, upn="ana@contoso.example", call_type="outbound", to=UK
        )
        assert decision.funded_by == "plan_minutes" and decision.max_seconds == 14400


def test_expired_reservations_are_released(person, rated):
    person("ana", "US", "AUDIO_CONF", "COMMS_CREDITS")
    grant(rated, "5")
    decision = call_authorize(
        organisation=rated, upn="ana@contoso.example", call_type="toll_free_dial_in", to=US
    )
    assert available(account_of(rated)) < Decimal("5")
    with time_machine.travel(datetime.now(UTC).replace(year=2030)):
        assert reservations_release_expired() == 1
    assert Reservation.objects.get(code=decision.authorization_id).status == "released"
    assert available(account_of(rated)) == Decimal("5")


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_authorizations_never_over_reserve(person, rated):
    person("ana", "US", "AUDIO_CONF", "COMMS_CREDITS")
    grant(rated, "10.00")  # at 0.0360 a minute, 10.00 holds a few calls of up to 4 hours
    decisions = []

    def call(_i: int) -> None:
        decisions.append(
            call_authorize(
                organisation=rated, upn="ana@contoso.example", call_type="toll_free_dial_in", to=US
            )
        )

    assert at_once(call, 50) == []
    allowed = [d for d in decisions if d.allowed]
    assert len(decisions) == 50 and 0 < len(allowed) < 50
    held = sum(r.amount for r in Reservation.objects.filter(status="open"))
    assert held <= Decimal("10.00")
    assert {d.reason for d in decisions if not d.allowed} == {"insufficient_balance"}


def test_the_pools_show_on_communications_credits(client_as, person, rated):
    from django.urls import reverse

    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    page = client_as("billing").get(reverse("billing:credits")).content.decode()
    assert "Plan minutes," in page and "Domestic calling (GB)" in page and ">1200<" in page


def test_what_a_license_does_for_calls_is_the_catalogue_s_data(platform, person, rated):
    from licensing.models import Pool, Product
    from usage.services import rating

    assert PoolUsage.Category is Pool  # one definition of the pools, in the catalogue
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_PAYG")
    grant(rated, "10.00")
    assert ask(platform, "ana@contoso.example")["reason"] == "no_credits_license"
    # An operator makes the pay-as-you-go plan pay from credits, and Phone System no longer call.
    Product.objects.filter(sku="CALLING_PAYG").update(pays_from_credits=True)
    rating._RECENT.clear()  # the call path's minute-old copy of the catalogue
    body = ask(platform, "ana@contoso.example")
    assert body["allowed"] and body["funded_by"] == "credits"
    Product.objects.filter(sku="PHONE_SYSTEM").update(makes_pstn_calls=False)
    rating._RECENT.clear()
    assert ask(platform, "ana@contoso.example")["reason"] == "no_license"
