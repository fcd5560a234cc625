"""Issue 19, item 2: spend caps enforced by authorization (usage.services.caps).

Rates of the demo card: London (+4420) outbound 0.0210 a minute; US toll-free dial-in 0.0360.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail

from billing.models import Reservation
from billing.services.contacts import billing_contact_add
from billing.services.verify import ledger_verify
from credits_portal.events import event_published
from licensing.caps import caps_defaults_set, user_caps_set
from tests.builders import grant
from tests.processes import at_once
from usage.models import CapHold, CapNotice, RefusedCall
from usage.services.authorize import call_authorize
from usage.services.caps import cap_holds_purge, spend_of
from usage.services.ingest import usage_ingest

pytestmark = pytest.mark.django_db
UK = "+442071838750"
US_TOLL_FREE = "+14255550123"
ANA = "ana@contoso.example"
BO = "bo@contoso.example"
MID_MONTH = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)


def authorize(organisation, upn=ANA, to=UK, call_type="outbound"):
    return call_authorize(organisation=organisation, upn=upn, call_type=call_type, to=to)


def ingest(organisation, upn, minutes, *, started_at=None, authorization_id=None):
    record = {
        "id": f"call-{next(_ids)}",
        "kind": "call",
        "type": "outbound",
        "user": upn,
        "from": "+14255550100",
        "to": UK,
        "started_at": (started_at or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "duration_seconds": 60 * minutes,
    }
    if authorization_id:
        record["authorization_id"] = authorization_id
    (result,) = usage_ingest(organisation=organisation, records=[record])
    assert result.status == "rated", result
    return result


@pytest.fixture
def ana(rated, person):
    """Ana (US, domestic plan, credits) calls London: credits pay, 0.0210 a minute."""
    grant(rated, "100.00")
    return person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")


@pytest.fixture
def bo(ana, person):
    return person("bo", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")


@pytest.fixture
def events():
    found = []

    def receiver(sender, **kwargs):
        found.append(kwargs)

    event_published.connect(receiver, weak=False)
    yield found
    event_published.disconnect(receiver)


def caps(user, daily=None, monthly=None):
    user_caps_set(
        user=user,
        daily=None if daily is None else Decimal(daily),
        monthly=None if monthly is None else Decimal(monthly),
    )


def test_a_cap_shortens_max_seconds_then_refuses_with_cap_reached(rated, ana):
    caps(ana, daily="1.00")
    first = authorize(rated)
    # 1.00 buys 47 minutes at 0.0210 (0.987, held as 0.99): the call lasts that long at most.
    assert (first.allowed, first.funded_by, first.max_seconds) == (True, "credits", 47 * 60)
    assert CapHold.objects.get(code=first.authorization_id).amount == Decimal("0.99")
    assert Reservation.objects.get(code=first.authorization_id).amount == Decimal("0.99")
    second = authorize(rated)
    assert (second.allowed, second.reason, second.max_seconds) == (False, "cap_reached", 0)
    assert second.authorization_id is None
    # Refused calls report: the refusal counted with its reason.
    row = RefusedCall.objects.get(upn=ANA)
    assert (row.reason, row.count, row.user_id) == ("cap_reached", 1, ana.pk)


def test_without_caps_nothing_changes(rated, ana):
    decision = authorize(rated)
    assert (decision.allowed, decision.max_seconds) == (True, 14400)
    assert not CapHold.objects.exists()


def test_the_record_replaces_the_hold_and_an_expired_hold_stops_counting(rated, ana):
    caps(ana, daily="1.00")
    first = authorize(rated)
    ingest(rated, ANA, 10, authorization_id=first.authorization_id)  # 0.21 charged
    spend = spend_of(organisation_id=rated.pk, user_id=ana.pk)
    assert (spend.user_day, spend.held_user_day) == (Decimal("0.21"), Decimal("0"))
    second = authorize(rated)  # 0.79 left: 37 minutes (0.777)
    assert (second.allowed, second.max_seconds) == (True, 37 * 60)
    later = datetime.now(UTC) + timedelta(hours=5)
    with time_machine.travel(later):
        assert spend_of(organisation_id=rated.pk, user_id=ana.pk).held_user_day == 0
        assert cap_holds_purge() == 2
    assert ledger_verify() == []


def test_plan_minutes_still_play_when_the_cap_is_reached(rated, person):
    grant(rated, "100.00")
    gb = person("gil", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    caps(gb, daily="0.00")
    decision = authorize(rated, upn="gil@contoso.example")
    # London is domestic for a GB user: the pool pays, the cap costs nothing.
    assert (decision.allowed, decision.funded_by, decision.max_seconds) == (
        True,
        "plan_minutes",
        14400,
    )


def end(organisation, decision, upn=ANA, minutes=0):
    """The call's usage record comes: its charge counts instead of its hold."""
    assert decision.allowed, decision
    ingest(organisation, upn, minutes, authorization_id=decision.authorization_id)


@time_machine.travel(MID_MONTH, tick=True)
def test_daily_monthly_and_organisation_caps(rated, ana, bo):
    # Yesterday's calls count for the month, not the day.
    ingest(rated, ANA, 100, started_at=MID_MONTH - timedelta(days=1))  # 2.10
    caps(ana, daily="3.00")
    end(rated, decision := authorize(rated))
    assert decision.max_seconds == 142 * 60  # 3.00 / 0.021
    caps(ana, monthly="3.00")  # 0.90 left this month
    end(rated, decision := authorize(rated))
    assert decision.max_seconds == 42 * 60
    caps(ana, daily="0.50", monthly="3.00")  # the tighter of both decides
    end(rated, decision := authorize(rated))
    assert decision.max_seconds == 23 * 60
    # The organisation's daily cap counts every user's calls and holds, capped or not.
    caps(ana)
    caps_defaults_set(
        organisation=rated, user_daily=None, user_monthly=None, organisation_daily=Decimal("1.00")
    )
    assert authorize(rated, upn=BO).max_seconds == 47 * 60  # holds 0.99
    assert authorize(rated, upn=ANA).reason == "cap_reached"
    assert authorize(rated, upn=BO).reason == "cap_reached"
    notice = CapNotice.objects.get(threshold=100)
    assert (notice.scope, notice.upn, notice.cap, notice.spent) == (
        "organisation_daily",
        "",
        Decimal("1.00"),
        Decimal("0.99"),
    )
    assert ledger_verify() == []


@time_machine.travel(MID_MONTH, tick=True)
def test_the_default_applies_to_users_without_their_own(rated, ana, bo):
    caps_defaults_set(
        organisation=rated,
        user_daily=Decimal("0.42"),
        user_monthly=None,
        organisation_daily=None,
    )
    caps(bo, daily="0.21")
    assert authorize(rated).max_seconds == 20 * 60  # the default
    assert authorize(rated, upn=BO).max_seconds == 10 * 60  # her own


def test_overage_calls_meet_caps_too(nia):
    from licensing.models import DirectoryUser

    caps(DirectoryUser.objects.get(upn="nia@newco.example"), daily="0.21")
    first = authorize(nia, upn="nia@newco.example")
    assert (first.allowed, first.funded_by, first.max_seconds) == (True, "overage", 600)
    assert not Reservation.objects.exists()  # overage holds no money, only the cap's count
    assert authorize(nia, upn="nia@newco.example").reason == "cap_reached"


@time_machine.travel(MID_MONTH, tick=True)
def test_warnings_at_75_and_90_percent_once_each(
    rated, ana, django_capture_on_commit_callbacks, events
):
    billing_contact_add(organisation=rated, email="ap@contoso.example")
    caps(ana, monthly="10.00")

    def call() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            decision = authorize(rated)
        if decision.allowed:
            ingest(rated, ANA, 0, authorization_id=decision.authorization_id)  # frees the hold

    ingest(rated, ANA, 357)  # 7.50 (7.497): 75 %
    call()
    call()
    assert [m.subject for m in mail.outbox] == [
        "ana@contoso.example has spent 75 % of their monthly spend cap"
    ]
    assert "7.50 USD" in mail.outbox[0].body and "10.00 USD" in mail.outbox[0].body
    ingest(rated, ANA, 72)  # 9.01: 90 %
    call()
    call()
    assert [m.subject for m in mail.outbox][1:] == [
        "ana@contoso.example has spent 90 % of their monthly spend cap"
    ]
    assert mail.outbox[0].to == ["ap@contoso.example"]
    ingest(rated, ANA, 48)  # 10.02: reached
    call()
    call()
    assert CapNotice.objects.filter(threshold=100).count() == 1
    assert mail.outbox[-1].subject == "ana@contoso.example reached a spend cap"
    assert len(mail.outbox) == 3
    reached = [e for e in events if e["type"] == "cap.reached"]
    assert len(reached) == 1
    assert reached[0]["data"] == {
        "scope": "user_monthly",
        "user": ANA,
        "period": "2026-11",
        "cap": "10.00",
        "spent": "10.02",
        "currency": "USD",
    }
    assert reached[0]["key"] == f"cap.reached:{rated.pk}:user_monthly:{ANA}:2026-11"
    assert ledger_verify() == []


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_authorizations_never_pass_a_cap(rated, ana, bo):
    caps(ana, daily="2.00")
    caps_defaults_set(
        organisation=rated, user_daily=None, user_monthly=None, organisation_daily=Decimal("3.00")
    )
    decisions = []

    def call(i: int) -> None:
        decisions.append(authorize(rated, upn=ANA if i % 2 else BO))

    assert at_once(call, 50) == []
    allowed = [d for d in decisions if d.allowed]
    assert len(decisions) == 50 and 0 < len(allowed) < 50
    assert {d.reason for d in decisions if not d.allowed} == {"cap_reached"}
    ana_held = sum(h.amount for h in CapHold.objects.filter(user=ana))
    assert ana_held <= Decimal("2.00")
    assert sum(h.amount for h in CapHold.objects.all()) <= Decimal("3.00")
    # Each allowed call's longest cost fits in what it holds, and money is held the same.
    for decision in allowed:
        hold = CapHold.objects.get(code=decision.authorization_id)
        assert Decimal("0.021") * (decision.max_seconds // 60) <= hold.amount
        assert Reservation.objects.get(code=decision.authorization_id).amount == hold.amount
    refused = RefusedCall.objects.filter(reason="cap_reached")
    assert sum(r.count for r in refused) == 50 - len(allowed)
    assert ledger_verify() == []


def test_a_cap_reached_refusal_shows_in_the_refused_calls_report(client_as, rated, ana):
    from django.urls import reverse

    from credits_portal.permissions import Role

    caps(ana, daily="0.00")
    assert authorize(rated).reason == "cap_reached"
    assert authorize(rated).reason == "cap_reached"
    page = client_as(Role.GLOBAL).get(reverse("usage:refused_calls"), {"reason": "cap_reached"})
    assert page.status_code == 200
    ((row, action),) = page.context["rows"]
    assert (row.upn, row.reason, row.count) == (ANA, "cap_reached", 2)
    assert action.url == reverse("licensing:user", args=[ana.code])
    assert (
        "A spend cap is reached" in page.content.decode() or "cap_reached" in page.content.decode()
    )
