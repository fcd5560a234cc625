"""Issue 16, item 3: every refused authorization is recorded, cheaply, with its reason (through the
real API); recording never changes or breaks the answer."""

from __future__ import annotations

from unittest import mock

import pytest

from tests.builders import DEMO_RATE_CARD, grant
from usage.models import RefusedCall
from usage.services import refusals
from usage.services.rates import rate_card_load

pytestmark = pytest.mark.django_db
UK = "+442071838750"
FR = "+33142685300"


def ask(platform, upn, to=UK, call_type="outbound") -> dict:
    response = platform("/calls/authorize", {"user": upn, "type": call_type, "to": to})
    assert response.status_code == 200, response.content
    return response.json()


def test_each_reason_is_recorded_with_user_destination_and_type(platform, person, rated):
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")  # no credits: UK is refused
    person("bo", "US", "AUDIO_CONF")  # no Phone System
    person("cy", "US", "AUDIO_CONF", "COMMS_CREDITS")  # credits, but none bought
    assert ask(platform, "ana@contoso.example")["reason"] == "no_credits_license"
    assert ask(platform, "bo@contoso.example")["reason"] == "no_license"
    tf = ask(platform, "cy@contoso.example", to="+18005550100", call_type="toll_free_dial_in")
    assert tf["reason"] == "insufficient_balance"
    assert ask(platform, "Ghost@Contoso.example")["reason"] == "unknown_user"
    rows = {r.reason: r for r in RefusedCall.objects.select_related("user")}
    assert set(rows) == {"no_credits_license", "no_license", "insufficient_balance", "unknown_user"}
    ana = rows["no_credits_license"]
    assert (ana.user.upn, ana.upn, ana.type, ana.to_number, ana.to_country, ana.count) == (
        "ana@contoso.example",
        "ana@contoso.example",
        "outbound",
        UK,
        "GB",
        1,
    )
    assert rows["insufficient_balance"].type == "toll_free_dial_in"
    ghost = rows["unknown_user"]
    assert (ghost.user, ghost.upn) == (None, "ghost@contoso.example")
    assert all(r.organisation == rated for r in rows.values())


def test_destination_not_rated(platform, person):
    card = DEMO_RATE_CARD.read_text().splitlines()
    rate_card_load(currency="USD", text="\n".join(x for x in card if not x.startswith("*")))
    person("ana", "US", "PHONE_SYSTEM", "CALLING_INTL", "COMMS_CREDITS")
    assert ask(platform, "ana@contoso.example", to=FR)["reason"] == "destination_not_rated"
    row = RefusedCall.objects.get()
    assert (row.reason, row.to_number, row.to_country) == ("destination_not_rated", FR, "FR")


def test_allowed_calls_record_nothing(platform, person, rated):
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    grant(rated, "10")
    assert ask(platform, "ana@contoso.example")["allowed"]
    assert not RefusedCall.objects.exists()


def test_a_storm_of_the_same_refusal_is_one_row_counted_up(platform, person):
    """A platform retrying a refused call: one row a day, counted, with the last time."""
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    for _ in range(30):
        ask(platform, "ana@contoso.example")
    ask(platform, "ana@contoso.example", to="+441612345678")
    row = RefusedCall.objects.get()
    assert row.count == 31 and row.to_number == "+441612345678"
    assert row.first_at <= row.last_at


def test_a_flood_of_made_up_users_is_bounded(platform, monkeypatch):
    monkeypatch.setattr(refusals, "UNKNOWN_PER_DAY", 3)
    for n in range(8):
        ask(platform, f"nobody{n}@contoso.example")
    ask(platform, "nobody1@contoso.example")  # one already counted keeps its own row
    rows = {r.upn: r.count for r in RefusedCall.objects.all()}
    assert rows == {
        "nobody0@contoso.example": 1,
        "nobody1@contoso.example": 2,
        "nobody2@contoso.example": 1,
        refusals.OTHER_UNKNOWN: 5,
    }


def test_a_long_upn_is_kept_truncated(rated):
    assert refusals.refusal_record(
        organisation_id=rated.pk, upn="x" * 300, call_type="outbound", to=UK, reason="unknown_user"
    )
    assert RefusedCall.objects.get().upn == "x" * 254


def test_a_failure_to_record_leaves_the_refusal_as_it_was(platform, person, caplog):
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    with mock.patch.object(refusals, "_UPSERT_SQL", "SELECT no_such_column {relaxed}"):
        body = ask(platform, "ana@contoso.example")
    assert (body["allowed"], body["reason"]) == (False, "no_credits_license")
    assert "not recorded" in caplog.text
    assert not RefusedCall.objects.exists()
    # …and the connection is still usable by what follows.
    assert ask(platform, "ana@contoso.example")["reason"] == "no_credits_license"
    assert RefusedCall.objects.get().count == 1
