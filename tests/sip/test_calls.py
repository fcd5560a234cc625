"""Calls through a real Kamailio (contrib/kamailio) to a SIPp UAS, authorized and billed by the
live portal: what issue 18 asks the SIP proxy to guarantee."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from billing.models import Reservation
from billing.services.reservations import available
from billing.services.verify import ledger_verify
from tests.builders import account_of, grant
from tests.sip.harness import ROOT, Caller, Kamailio, missing, wait_until
from usage.models import MinuteHold, UsageRecord

if reason := missing():
    pytest.skip(reason, allow_module_level=True)

pytestmark = pytest.mark.django_db(transaction=True)

DOMESTIC = "+14255550123"
ABROAD = "+8223123456"  # Seoul, 0.0450 a minute on the demo rate card
LONDON = "+442071838750"
ARTEFACTS = ROOT / "test-artefacts"
PLAN = ("PHONE_SYSTEM", "CALLING_DOMESTIC")
PLAN_AND_CREDITS = (*PLAN, "COMMS_CREDITS")


def records_of(upn: str):
    return list(UsageRecord.objects.filter(user__upn=upn).order_by("started_at"))


def test_domestic_call_within_plan_minutes_billed_for_its_length(sip_org, dial):
    sip_org.person("ana", "ana@contoso.example", "+14255550100", *PLAN)
    outcome = dial.call(caller="ana", dialled=DOMESTIC, hold_ms=3000)
    assert outcome.returncode == 0 and outcome.count("hung up") == 1, outcome.events
    [record] = wait_until(lambda: records_of("ana@contoso.example"), timeout=5)
    assert record.funded_by == "plan_minutes" and record.plan_minutes == 1
    assert record.charge == Decimal("0.00") and record.type == "outbound"
    assert 3 <= record.duration_seconds <= 4  # 3 s held, plus the BYE's round trip
    assert (record.from_number, record.to_number) == ("+14255550100", DOMESTIC)
    assert record.record_id == f"sip-{record.authorization_code}"
    assert sip_org.kamailio.spooled() == []


def test_refusals_answer_with_their_reason_and_bill_nothing(sip_org, dial):
    sip_org.person("bob", "bob@contoso.example", "+14255550101", *PLAN)
    grant(sip_org.organisation, "10.00")
    outcome = dial.call(caller="bob", dialled=LONDON, hold_ms=1000)
    assert outcome.count("refused") == 1 and outcome.count("answered") == 0
    assert outcome.statuses() == ["403 Communications Credits license required"]
    # A caller the mapping does not know, and a number the portal finds invalid.
    outcome = dial.call(caller="mallory", dialled=DOMESTIC, hold_ms=1000)
    assert outcome.statuses() == ["403 Caller not mapped to an organisation"]
    outcome = dial.call(caller="bob", dialled="+1425", hold_ms=1000)
    assert outcome.statuses() == ["484 Invalid number"]
    time.sleep(0.5)
    assert UsageRecord.objects.count() == 0 and sip_org.kamailio.spooled() == []


def test_credits_call_cut_by_kamailio_at_its_funded_time(sip_org, dial, settings):
    # The balance buys one billed minute; the per-call cap makes that authorization 5 s long.
    settings.AUTHORIZATION_MAX_SECONDS = 5
    sip_org.person("cem", "cem@contoso.example", "+14255550102", *PLAN_AND_CREDITS)
    grant(sip_org.organisation, "0.05")  # one minute to Seoul at 0.0450, rounded to the cent
    outcome = dial.call(caller="cem", dialled=ABROAD, hold_ms=30_000)
    assert outcome.count("answered") == 1 and outcome.count("cut") == 1, outcome.events
    [answered] = outcome.received("SIP/2.0 200 OK")[:1]
    [cut] = outcome.received("BYE ")
    held = (cut - answered).total_seconds()
    # The funded 5 s, within the dialog timer's tick of a second: it counts whole seconds from
    # the tick the call was answered in, so the BYE comes up to a second early (or, on a busy
    # machine, a fraction late).
    assert 4.0 <= held <= 6.0, held
    [record] = wait_until(lambda: records_of("cem@contoso.example"), timeout=5)
    assert (record.funded_by, record.charge) == ("credits", Decimal("0.05"))
    assert record.duration_seconds in (4, 5)  # never more than the 5 s authorized
    account = account_of(sip_org.organisation)
    assert account.balance == Decimal("0.00") and available(account) == Decimal("0.00")
    assert Reservation.objects.get(code=record.authorization_code).status == "settled"
    assert ledger_verify() == []
    _keep_excerpt(sip_org.kamailio, outcome, record, held)


def _keep_excerpt(kamailio, outcome, record, held: float) -> None:
    """The Kamailio log and SIPp's view of the call cut at its funded time, for the resolve note."""
    [call_id] = outcome.events["answered"]
    wait_until(lambda: kamailio.log_lines(f"record {record.record_id} rated"), timeout=3)
    lines = [
        f"# A call cut at its funded time: answer to BYE {held:.3f} s, record {record.record_id}"
    ]
    lines += ["## Kamailio", *kamailio.log_lines(call_id)]
    lines += [line for line in kamailio.log_lines(record.record_id) if call_id not in line]
    lines += ["## SIPp, the caller", *outcome.timeline()]
    ARTEFACTS.mkdir(exist_ok=True)
    (ARTEFACTS / "sip_cut_excerpt.txt").write_text("\n".join(lines) + "\n")


def test_fifty_concurrent_calls_never_spend_more_than_the_balance(sip_org, dial, settings):
    settings.AUTHORIZATION_MAX_SECONDS = 60  # each call holds one minute: 0.05 to Seoul
    sip_org.person("dee", "dee@contoso.example", "+14255550103", *PLAN_AND_CREDITS)
    grant(sip_org.organisation, "0.50")  # 11 minutes by the rate, 10 holds of 0.05
    outcome = dial.call(caller="dee", dialled=ABROAD, hold_ms=2000, calls=50)
    answered = set(outcome.events.get("answered", []))
    assert len(answered) + len(set(outcome.events.get("refused", []))) == 50, outcome.events
    assert 1 <= len(answered) <= 11  # never more funded minutes than the balance buys
    assert set(outcome.statuses()) == {"402 Insufficient credit"}
    records = wait_until(
        lambda: (
            (found := records_of("dee@contoso.example")) and len(found) >= len(answered) and found
        ),
        timeout=15,
    )
    time.sleep(1.5)  # a late duplicate would show now
    records = records_of("dee@contoso.example")
    assert len(records) == len(answered)
    assert len({r.authorization_code for r in records}) == len(records)  # each billed once
    assert all(r.funded_by == "credits" and 2 <= r.duration_seconds <= 3 for r in records)
    assert sum(r.charge for r in records) <= Decimal("0.50")
    assert account_of(sip_org.organisation).balance >= 0
    assert sip_org.kamailio.spooled() == []
    assert ledger_verify() == []


def test_a_record_of_a_call_ending_in_an_outage_arrives_when_the_portal_is_back(
    sip_org, dial, api_switch
):
    sip_org.person("eve", "eve@contoso.example", "+14255550104", *PLAN)
    process, run = dial.start(caller="eve", dialled=DOMESTIC, hold_ms=3000)
    assert wait_until(MinuteHold.objects.exists, timeout=10)  # authorized, so being answered
    time.sleep(0.5)
    api_switch.down()
    outcome = dial.finish(process, run)
    assert outcome.count("hung up") == 1, outcome.events
    assert wait_until(sip_org.kamailio.spooled, timeout=5)
    time.sleep(1.5)  # the timer has tried again meanwhile
    assert records_of("eve@contoso.example") == []
    api_switch.up()
    [record] = wait_until(lambda: records_of("eve@contoso.example"), timeout=10)
    assert record.funded_by == "plan_minutes" and 3 <= record.duration_seconds <= 4
    assert wait_until(lambda: sip_org.kamailio.spooled() == [], timeout=5)


def test_portal_unreachable_fails_closed_but_emergency_calls_go_through(sip_org, dial, api_switch):
    sip_org.person("fay", "fay@contoso.example", "+14255550105", *PLAN)
    api_switch.down()
    refused = dial.call(caller="fay", dialled=DOMESTIC, hold_ms=1000)
    assert refused.statuses() == ["503 Call authorization unavailable"]
    emergency = dial.call(caller="fay", dialled="911", hold_ms=1000)
    assert emergency.count("hung up") == 1, emergency.events
    api_switch.up()
    time.sleep(1.5)
    assert records_of("fay@contoso.example") == [] and sip_org.kamailio.spooled() == []


def test_fail_open_policy_relays_and_records_the_call_once_the_portal_is_back(
    sip_org, sip_stack, api_switch, tmp_path
):
    policy = {"CREDITS_PORTAL_ON_API_DOWN": "open", "CREDITS_PORTAL_FAIL_OPEN_SECONDS": "60"}
    proxy = Kamailio(tmp_path, sip_stack.portal_url, sip_stack.next_hop, environment=policy)
    proxy.start()
    try:
        sip_org.proxies.append(proxy)
        sip_org.person("hal", "hal@contoso.example", "+14255550107", *PLAN)
        api_switch.down()
        outcome = Caller(tmp_path, proxy).call(caller="hal", dialled=DOMESTIC, hold_ms=2000)
        assert outcome.count("hung up") == 1, outcome.events
        assert wait_until(proxy.spooled, timeout=5)
        api_switch.up()
        [record] = wait_until(lambda: records_of("hal@contoso.example"), timeout=10)
    finally:
        proxy.stop()
    # No authorization: rated like any record from the platform, by what the user may spend.
    assert record.authorization_code == "" and record.funded_by == "plan_minutes"
    assert 2 <= record.duration_seconds <= 3 and record.record_id.startswith("sip-")


def test_a_call_to_a_toll_free_number_is_authorized_for_the_organiser(sip_org, dial):
    sip_org.person("gus", "gus@contoso.example", "+14255550106", "AUDIO_CONF", "COMMS_CREDITS")
    sip_org.toll_free_number("+18005550199", "gus@contoso.example")
    grant(sip_org.organisation, "5.00")
    outcome = dial.call(
        caller=LONDON, dialled="+18005550199", hold_ms=2000, domain="carrier.example"
    )
    assert outcome.count("hung up") == 1, outcome.events
    [record] = wait_until(lambda: records_of("gus@contoso.example"), timeout=5)
    assert record.type == "toll_free_dial_in" and record.funded_by == "credits"
    assert (record.from_number, record.to_number) == (LONDON, "+18005550199")
