"""Usage records are dated within USAGE_MAX_AGE_DAYS in the past and a few minutes ahead, and
draw on the pool of the UTC calendar month of their instant (issue 13, finding 6)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from billing.services.verify import ledger_verify
from tests.builders import account_of, grant, make_api_key
from usage.models import PoolUsage, UsageRecord
from usage.services.ingest import usage_ingest
from usage.services.pools import month_of

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
MANCHESTER = "+441612345678"  # 0.0230 a minute


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def call(record_id: str, started_at: str, to: str = MANCHESTER, seconds: int = 60) -> dict:
    return {
        "id": record_id,
        "kind": "call",
        "type": "outbound",
        "user": "ana@contoso.example",
        "from": "+14255550100",
        "to": to,
        "started_at": started_at,
        "duration_seconds": seconds,
    }


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.fixture(autouse=True)
def _now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.mark.parametrize(
    "started_at",
    [
        "2999-01-01T00:00:00Z",  # an empty future pool would rate it free
        "9999-12-31T23:00:00-05:00",  # year 10000 in UTC
        "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
        "2026-02-30T10:00:00Z",
        "0000-06-01T10:00:00Z",
        "2026-12-10T10:00:00+25:00",
        iso(NOW - timedelta(days=36)),
        iso(NOW + timedelta(minutes=10)),
    ],
)
def test_a_record_dated_out_of_range_is_rejected_beside_good_ones(
    client, platform, person, rated, started_at
):
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(rated, "10")
    batch = [
        call("before", iso(NOW - timedelta(days=34))),
        call("odd", started_at),
        call("soon", iso(NOW + timedelta(minutes=4))),
    ]
    found = results(platform("/usage/records", {"records": batch}))
    assert [r["status"] for r in found] == ["rated", "rejected", "rated"]
    assert found[1]["error"].startswith("started_at: "), found[1]
    assert set(UsageRecord.objects.values_list("record_id", flat=True)) == {"before", "soon"}
    assert account_of(rated).balance == Decimal("9.96")
    listing = client.get(
        "/api/v1/usage/records", HTTP_AUTHORIZATION=f"Bearer {make_api_key(rated, 'admin')}"
    )
    assert listing.status_code == 200, listing.content
    assert [r["id"] for r in listing.json()["records"]] == ["soon", "before"]
    assert ledger_verify() == []


def test_the_errors_say_what_is_allowed(platform, person, rated):
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(rated, "10")
    found = results(
        platform(
            "/usage/records",
            {
                "records": [
                    call("old", iso(NOW - timedelta(days=36))),
                    call("ahead", iso(NOW + timedelta(minutes=10))),
                    call("feb", "2026-02-30T10:00:00Z"),
                ]
            },
        )
    )
    assert [r["error"] for r in found] == [
        "started_at: more than 35 days ago",
        "started_at: more than 300 seconds ahead",
        "started_at: not a valid date and time",
    ]


def test_the_bounds_follow_the_settings(platform, person, rated, settings):
    settings.USAGE_MAX_AGE_DAYS = 3
    settings.USAGE_MAX_FUTURE_SECONDS = 0
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(rated, "10")
    batch = [
        call("old", iso(NOW - timedelta(days=4))),
        call("recent", iso(NOW - timedelta(days=2))),
        call("ahead", iso(NOW + timedelta(seconds=1))),
    ]
    found = results(platform("/usage/records", {"records": batch}))
    assert [r["status"] for r in found] == ["rejected", "rated", "rejected"]
    assert found[0]["error"] == "started_at: more than 3 days ago"


def test_the_operator_may_load_older_usage(person, rated):
    """seed_demo's 90 days go through the same service, with an age the API never passes."""
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(rated, "10")
    records = [call("old", iso(NOW - timedelta(days=80))), call("older", "2026-01-01T00:00:00Z")]
    found = usage_ingest(organisation=rated, records=records, max_age=timedelta(days=90))
    assert [r.status for r in found] == ["rated", "rejected"]
    assert found[1].error == "started_at: more than 90 days ago"
    assert ledger_verify() == []


def test_the_pool_month_is_the_utc_month_of_the_instant(platform, person, rated):
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    # 23:30 on 30 November in New York is 04:30 on 1 December in UTC: December's pool.
    found = results(
        platform(
            "/usage/records",
            {"records": [call("eve", "2026-11-30T23:30:00-05:00", to="+12015550123", seconds=120)]},
        )
    )
    assert found[0]["funded_by"] == "plan_minutes" and found[0]["plan_minutes"] == 2
    pools = PoolUsage.objects.filter(organisation=rated, used__gt=0)
    assert list(pools.values_list("month", "used")) == [(date(2026, 12, 1), 2)]
    assert UsageRecord.objects.get().started_at == datetime(2026, 12, 1, 4, 30, tzinfo=UTC)
    assert month_of(datetime.fromisoformat("2026-11-30T23:30:00-05:00")) == date(2026, 12, 1)
    assert ledger_verify() == []


@pytest.mark.parametrize(
    ("started_at", "used"),
    [
        ("2026-11-30T23:59:00Z", {date(2026, 11, 1): 5}),  # its hold; November has no more
        ("2026-11-30T23:59:00-01:00", {date(2026, 11, 1): 5, date(2026, 12, 1): 5}),
    ],
)
def test_a_call_authorized_at_the_last_minute_of_a_month(person, rated, started_at, used):
    """Authorized at 23:59 on 30 November (UTC): the hold is November's. Its record, reported
    after midnight, is paid by that hold; minutes beyond it come from the pool of the record's
    own UTC month."""
    from usage.services.authorize import call_authorize

    LONDON = "+442071838750"  # domestic for a GB user
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    for month in (date(2026, 11, 1), date(2026, 12, 1)):
        PoolUsage.objects.create(
            organisation=rated, month=month, category="domestic", country="GB", used=1195
        )
    with time_machine.travel(datetime(2026, 11, 30, 23, 59, tzinfo=UTC), tick=False):
        decision = call_authorize(
            organisation=rated, upn="ana@contoso.example", call_type="outbound", to=LONDON
        )
    assert (decision.allowed, decision.max_seconds) == (True, 300)
    record = {
        **call("late-night", started_at, to=LONDON, seconds=600),
        "user": "ana@contoso.example",
        "authorization_id": decision.authorization_id,
    }
    with time_machine.travel(datetime(2026, 12, 1, 1, 20, tzinfo=UTC), tick=False):
        (result,) = usage_ingest(organisation=rated, records=[record])
    assert (result.status, result.plan_minutes) == ("rated", sum(used.values()))
    pools = {p.month: (p.used - 1195, p.held) for p in PoolUsage.objects.all()}
    assert pools == {m: (used.get(m, 0), 0) for m in (date(2026, 11, 1), date(2026, 12, 1))}
    assert ledger_verify() == []
