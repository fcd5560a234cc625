"""POST /api/v1/usage/records: rating, funding, idempotency and bad records."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
import time_machine
from django.core import mail
from django.test import Client

from billing.models import Invoice, LedgerEntry, Reservation
from billing.services.verify import ledger_verify
from tests.builders import account_of, demo_rate_card, grant, make_api_key, seats
from tests.processes import at_once
from usage.models import PoolUsage, UsageRecord
from usage.services.authorize import call_authorize
from usage.services.overage import overage_invoice_organisation

pytestmark = pytest.mark.django_db
MANCHESTER = "+441612345678"  # 44: 0.0230 a minute


@pytest.fixture(autouse=True)
def _in_november_2026():
    """The records below are dated in November 2026: within USAGE_MAX_AGE_DAYS of this now."""
    with time_machine.travel(datetime(2026, 11, 20, 12, 0, tzinfo=UTC), tick=True):
        yield


def call(record_id, upn="ana@contoso.example", to=MANCHESTER, seconds=125, **extra):
    return {
        "id": record_id,
        "kind": "call",
        "type": "outbound",
        "user": upn,
        "from": "+14255550100",
        "to": to,
        "started_at": "2026-11-02T09:15:00Z",
        "duration_seconds": seconds,
        **extra,
    }


def results(response):
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_the_worked_example_of_api_md(platform, person, rated):
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    grant(rated, "10.00")
    (result,) = results(platform("/usage/records", {"records": [call("call-7f3a")]}))
    assert result == {
        "id": "call-7f3a",
        "status": "rated",
        "charge": "0.07",
        "currency": "USD",
        "funded_by": "credits",
        "plan_minutes": 0,
    }
    entry = LedgerEntry.objects.get(reference="usage:call-7f3a")
    assert entry.amount == Decimal("-0.07") and account_of(rated).balance == Decimal("9.93")


def test_pool_minutes_first_then_credits(platform, person, rated):
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    grant(rated, "10.00")
    PoolUsage.objects.create(
        organisation=rated, month=date(2026, 11, 1), category="domestic", country="GB", used=1198
    )
    first, second = results(
        platform("/usage/records", {"records": [call("c1"), call("c2", seconds=30)]})
    )
    assert (first["plan_minutes"], first["charge"], first["funded_by"]) == (
        2,
        "0.02",
        "credits",
    )  # 1 of 3 minutes charged
    assert (second["plan_minutes"], second["charge"], second["funded_by"]) == (0, "0.02", "credits")
    assert PoolUsage.objects.get().used == 1200


def test_a_call_the_plan_covers_costs_nothing(platform, person, rated):
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    (result,) = results(platform("/usage/records", {"records": [call("c1", seconds=61)]}))
    assert (result["funded_by"], result["plan_minutes"], result["charge"]) == (
        "plan_minutes",
        2,
        "0.00",
    )
    assert not LedgerEntry.objects.filter(kind="usage").exists()


def test_ingest_rates_with_the_catalogue_as_it_is_now(platform, person, rated):
    """Authorization may use a copy of the catalogue a minute old; what is charged may not."""
    from licensing.models import Product

    person("ana", "US", "E5")
    grant(rated, "10")
    refused = call_authorize(
        organisation=rated, upn="ana@contoso.example", call_type="outbound", to=MANCHESTER
    )
    assert refused.reason == "no_credits_license"  # and this process now keeps the catalogue
    e5 = Product.objects.get(sku="E5")
    e5.includes.add(Product.objects.get(sku="COMMS_CREDITS"))  # an operator's edit of the bundle
    (result,) = results(platform("/usage/records", {"records": [call("c1")]}))
    assert (result["status"], result["funded_by"], result["charge"]) == ("rated", "credits", "0.07")


def test_sms_is_one_message_at_the_sms_rate(platform, person, rated):
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(rated, "1")
    sms = {
        "id": "sms-1",
        "kind": "sms",
        "type": "sms",
        "user": "ana@contoso.example",
        "from": "+14255550100",
        "to": "+821012345678",
        "started_at": "2026-11-02T09:15:00Z",
    }
    null = {**sms, "id": "sms-2", "duration_seconds": None}  # no duration, said explicitly
    first, second = results(platform("/usage/records", {"records": [sms, null]}))
    assert (first["charge"], first["funded_by"]) == ("0.03", "credits")
    assert second["status"] == "rated"
    assert list(UsageRecord.objects.values_list("units", flat=True)) == [1, 1]


def test_replays_are_duplicates_and_charge_nothing(platform, person, rated):
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(rated, "10")
    batch = {"records": [call("c1"), call("c2", seconds=600), call("c1")]}
    first = results(platform("/usage/records", batch))
    assert [r["status"] for r in first] == ["rated", "rated", "duplicate"]
    again = results(platform("/usage/records", batch))
    assert [r["status"] for r in again] == ["duplicate"] * 3
    assert [r["charge"] for r in again] == [
        first[0]["charge"],
        first[1]["charge"],
        first[0]["charge"],
    ]
    assert UsageRecord.objects.count() == 2
    assert account_of(rated).balance == Decimal("10") - Decimal("0.07") - Decimal("0.23")


def test_text_is_stored_exactly_as_sent(platform, person, rated):
    """Records and ledger entries are written with COPY: quotes, commas, backslashes, non-ASCII
    and empty strings must come back unchanged, and a debt entry's lot as NULL; control
    characters (NUL above all) are refused for that record alone."""
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(rated, "0.05")
    bad = [call("nul\x00"), call("tab", conference_id="a\tb"), call("nl", authorization_id="x\ny")]
    refused = results(platform("/usage/records", {"records": bad}))
    assert [r["error"] for r in refused] == [
        "id: no control characters",
        "conference_id: no control characters",
        "authorization_id: no control characters",
    ]
    odd = 'a,"b" c;d\\e \\N é \\.'
    batch = {"records": [call(odd, conference_id=odd), call("plain", conference_id="")]}
    assert [r["status"] for r in results(platform("/usage/records", batch))] == ["rated"] * 2
    record = UsageRecord.objects.get(record_id=odd)
    assert record.conference_id == odd and record.authorization_code == ""
    assert UsageRecord.objects.get(record_id="plain").conference_id == ""
    assert results(platform("/usage/records", batch))[0]["status"] == "duplicate"
    entries = LedgerEntry.objects.filter(reference__startswith="usage:").order_by("id")
    assert [(e.reference, e.lot_id is None) for e in entries] == [
        (f"usage:{odd}", False),  # 0.05 of the 0.07 from the lot
        (f"usage:{odd}", True),  # 0.02 not covered: debt
        ("usage:plain", True),
    ]
    assert account_of(rated).balance == Decimal("-0.09")


def test_bad_records_are_rejected_beside_good_ones(platform, person, rated):
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    person("bob", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    grant(rated, "10")
    batch = [
        call("ok-1"),
        call("ghost", upn="ghost@contoso.example"),
        call("bad-number", to="12345"),
        call("negative", seconds=-5),
        {"id": "wrong-kind", "kind": "fax"},
        call("no-credits", upn="bob@contoso.example"),
        call("bad-time", started_at="yesterday"),
        "not an object",
        call("ok-2", seconds=60),
    ]
    found = results(platform("/usage/records", {"records": batch}))
    assert [r["status"] for r in found] == [
        "rated",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rated",
    ]
    errors = [r.get("error", "") for r in found]
    assert "no such user" in errors[1] and "E.164" in errors[2] and "duration_seconds" in errors[3]
    assert "no_credits_license" in errors[5] and "started_at" in errors[6]
    assert set(UsageRecord.objects.values_list("record_id", flat=True)) == {"ok-1", "ok-2"}


def test_more_than_1000_records_is_422(platform, rated):
    assert (
        platform("/usage/records", {"records": [call(f"c{n}") for n in range(1001)]}).status_code
        == 422
    )


TOLL_FREE = "+18005550100"


def toll_free_call(organisation, upn: str) -> tuple[str, dict]:
    """An authorized toll-free dial-in (credit-funded: it reserves) and its usage record."""
    decision = call_authorize(
        organisation=organisation, upn=upn, call_type="toll_free_dial_in", to=TOLL_FREE
    )
    code = decision.authorization_id
    return code, call("tf-1", to=TOLL_FREE, type="toll_free_dial_in", authorization_id=code)


def test_the_authorization_reservation_is_settled(platform, person, rated):
    person("ana", "US", "AUDIO_CONF", "COMMS_CREDITS")
    grant(rated, "5")
    code, record = toll_free_call(rated, "ana@contoso.example")
    (result,) = results(platform("/usage/records", {"records": [record]}))
    assert result["funded_by"] == "credits"
    assert Reservation.objects.get(code=code).status == "settled"


def test_a_record_cannot_settle_another_organisations_reservation(
    platform, person, rated, other_org
):
    demo_rate_card(str(other_org.currency))
    seats(other_org, AUDIO_CONF=1, COMMS_CREDITS=1)
    person("ana", "US", "AUDIO_CONF", "COMMS_CREDITS")
    person("eve", "US", "AUDIO_CONF", "COMMS_CREDITS", org=other_org)
    grant(rated, "5")
    grant(other_org, "5")
    theirs, record = toll_free_call(other_org, f"eve@{other_org.slug}.example")
    assert results(platform("/usage/records", {"records": [record]}))[0]["status"] == "rated"
    assert Reservation.objects.get(code=theirs).status == "open"
    assert account_of(other_org).reserved > 0


def test_reaching_zero_emails_and_queues_a_recharge(
    platform, person, rated, django_capture_on_commit_callbacks
):
    from billing.services.contacts import billing_contact_add

    billing_contact_add(organisation=rated, email="ap@contoso.example")
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(rated, "0.07")
    with django_capture_on_commit_callbacks(execute=True):
        results(platform("/usage/records", {"records": [call("c1")]}))
    assert [m.subject for m in mail.outbox] == ["Your Communications Credits balance reached zero"]


def test_new_commerce_accrues_overage_and_is_invoiced_monthly(client, nia):
    body = {
        "records": [
            call("n1", upn="nia@newco.example", seconds=600),
            call("n2", upn="nia@newco.example", seconds=60),
        ]
    }
    response = client.post(
        "/api/v1/usage/records",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {make_api_key(nia, 'platform')}",
    )
    assert [r["funded_by"] for r in response.json()["results"]] == ["overage", "overage"]
    assert account_of(nia).balance == 0 and not LedgerEntry.objects.exists()
    december = datetime(2026, 12, 1, tzinfo=UTC)
    record = overage_invoice_organisation(organisation=nia, before=december)
    assert record.invoice.total == Decimal("0.25")  # 10 min x 0.023, plus 0.023 rounded to 0.02
    assert record.invoice.status == "due"
    assert overage_invoice_organisation(organisation=nia, before=december) is None
    assert Invoice.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_batch_three_times_at_once_and_out_of_order(person, rated):
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(rated, "100")
    batch = [call(f"c{n}", seconds=60 * (n + 1)) for n in range(30)]
    orders = [batch, list(reversed(batch)), batch[10:] + batch[:10]]
    key = make_api_key(rated, "platform")
    statuses: list[list[str]] = []

    def post(i: int) -> None:
        response = Client().post(
            "/api/v1/usage/records",
            json.dumps({"records": orders[i]}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        statuses.append([r["status"] for r in response.json()["results"]])

    assert at_once(post, 3) == []
    assert sorted(s.count("rated") for s in statuses) == [0, 0, 30]
    charged = sum(r.charge for r in UsageRecord.objects.all())
    assert UsageRecord.objects.count() == 30
    assert LedgerEntry.objects.filter(kind="usage").count() == 30
    assert account_of(rated).balance == Decimal("100") - charged
    cent = Decimal("0.01")
    expected = sum((Decimal("0.023") * (n + 1)).quantize(cent, ROUND_HALF_UP) for n in range(30))
    assert charged == expected


def test_listing_with_filters(client, platform, person, rated):
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    grant(rated, "10")
    results(
        platform(
            "/usage/records",
            {
                "records": [
                    call("c1", to="+14255550199", started_at="2026-11-01T10:00:00Z"),
                    call("c2", started_at="2026-11-03T10:00:00Z"),
                    call("c3", started_at="2026-11-05T10:00:00Z"),
                ]
            },
        )
    )
    key = make_api_key(rated, "admin")

    def listing(**params):
        response = client.get("/api/v1/usage/records", params, HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code == 200, response.content
        return response.json()

    assert [r["id"] for r in listing()["records"]] == ["c3", "c2", "c1"]
    assert [r["id"] for r in listing(funded_by="plan_minutes")["records"]] == ["c1"]
    assert [r["id"] for r in listing(**{"from": "2026-11-02", "to": "2026-11-03"})["records"]] == [
        "c2"
    ]
    page = listing(limit=2)
    assert [r["id"] for r in listing(limit=2, cursor=page["next_cursor"])["records"]] == ["c1"]
    assert listing(user="nobody@contoso.example")["records"] == []
    assert (
        client.get(
            "/api/v1/usage/records", {"funded_by": "gold"}, HTTP_AUTHORIZATION=f"Bearer {key}"
        ).status_code
        == 422
    )


HOSTILE = [
    "\x00",
    "\ud800",
    "x" * 10_000,
    -1,
    True,
    2**63,
    float("inf"),  # 1e309 in JSON
    [],
    {},
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-02-30T10:00:00Z",
    "2026-11-02T09:15:00+25:00",
]
FIELDS = [
    "id",
    "kind",
    "type",
    "user",
    "from",
    "to",
    "started_at",
    "duration_seconds",
    "authorization_id",
    "conference_id",
]


@pytest.mark.parametrize("name", FIELDS)
def test_a_hostile_value_in_any_field_rejects_that_record_alone(platform, person, rated, name):
    """Every hostile value in every field: that record `rejected` naming the field (never a
    500), the good records beside it rated."""
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(rated, "10")
    batch = [call("good-1")]
    for n, value in enumerate(HOSTILE):
        if name in ("id", "authorization_id", "conference_id") and str(value)[:4].isdigit():
            continue  # a date is a fine id; an unknown authorization id authorizes nothing
        batch.append({**call(f"bad-{n}"), name: value})
        if name == "kind":
            batch[-1]["type"] = "sms"  # the SMS branch too: kind is checked first either way
    batch.append({**call("bad-sms"), "kind": "sms", "type": "sms", name: HOSTILE[3]})
    batch.append(call("good-3", seconds=60))
    found = results(platform("/usage/records", {"records": batch}))
    statuses = [(r["id"], r["status"]) for r in found]
    assert statuses[0] == ("good-1", "rated") and statuses[-1] == ("good-3", "rated")
    wrong = [
        (repr(batch[n][name])[:20], r.get("status"), r.get("error"))
        for n, r in enumerate(found)
        if 0 < n < len(found) - 1
        and (r["status"] != "rejected" or not r["error"].startswith(f"{name}:"))
    ]
    assert wrong == []
    assert set(UsageRecord.objects.values_list("record_id", flat=True)) == {"good-1", "good-3"}
    assert ledger_verify() == []
