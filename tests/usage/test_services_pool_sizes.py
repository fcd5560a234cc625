"""pool_sizes_now: every pool's size from one query, equal to pool_size_now pool by pool; and
ingest of many users, countries and numbers rated as record-by-record rating would, with a
number of queries that does not grow with the pools or the users of a batch."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.builders import grant, licensed_user, make_org, seats_of_every_sku
from usage.models import PoolUsage, UsageRecord
from usage.services.ingest import usage_ingest
from usage.services.pools import Category, pool_size_now, pool_sizes_now

pytestmark = pytest.mark.django_db
COUNTRIES = ["US", "CA", "PR", "GB", "DE", "FR", "JP", "IN", "", "ZZ"]


@pytest.fixture(autouse=True)
def _in_november_2026():
    with time_machine.travel(datetime(2026, 11, 20, 12, 0, tzinfo=UTC), tick=True):
        yield


@pytest.fixture
def staffed(rated, person):
    """Users in many countries holding every kind of plan, bundles and doubles included; and
    another organisation's users, who count for nothing here."""
    person("us1", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC", "AUDIO_CONF")
    person("us2", "US", "PHONE_SYSTEM", "CALLING_INTL")
    person("ca1", "CA", "PHONE_SYSTEM", "CALLING_DOMESTIC", "CALLING_INTL")
    person("pr1", "PR", "E5", "CALLING_DOMESTIC")
    person("gb1", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    person("gb2", "GB", "E5", "AUDIO_CONF", "CALLING_INTL")
    person("de1", "DE", "E5")
    person("fr1", "FR", "PHONE_SYSTEM", "COMMS_CREDITS")
    person("jp1", "JP", "PHONE_SYSTEM", "CALLING_INTL", "CALLING_DOMESTIC")
    other = make_org("fabrikam")
    seats_of_every_sku(other, 5)
    for country in ("US", "GB", "JP"):
        licensed_user(
            other, f"x{country}@fabrikam.example", country, "E5", "CALLING_INTL", "AUDIO_CONF"
        )
    return rated


def test_every_pool_size_equals_pool_size_now(staffed):
    sizes = pool_sizes_now(staffed)
    for category in Category.values:
        for country in COUNTRIES:
            assert sizes.size(category, country) == pool_size_now(staffed, category, country), (
                category,
                country,
            )


def test_the_sizes_worked_by_hand(staffed):
    """Domestic: 3,000 minutes a plan in US, CA and PR, 1,200 elsewhere, a user holding both
    plans counted under each; international: 600 a CALLING_INTL holder; conference: 60 a holder
    of AUDIO_CONF or of E5, which includes it, counted once."""
    sizes = pool_sizes_now(staffed)
    assert sizes.size("domestic", "US") == 2 * 3000
    assert sizes.size("domestic", "CA") == 2 * 3000
    assert sizes.size("domestic", "PR") == 3000
    assert sizes.size("domestic", "GB") == 2 * 1200
    assert sizes.size("domestic", "JP") == 2 * 1200
    assert sizes.size("domestic", "DE") == sizes.size("domestic", "FR") == 0
    assert sizes.size("international") == 4 * 600
    assert sizes.size("conference_dial_out") == 4 * 60  # us1, pr1, gb2 (twice: once), de1


def test_pool_sizes_now_is_one_query(staffed):
    with CaptureQueriesContext(connection) as queries:
        sizes = pool_sizes_now(staffed)
        for country in COUNTRIES:
            sizes.size("domestic", country)
    assert len(queries) == 2  # the allotments, and the holders per allotment and location


def _records(users: list[tuple[str, str]], numbers: list[str], prefix: str) -> list[dict]:
    return [
        {
            "id": f"{prefix}-{n}",
            "kind": "call",
            "type": "outbound",
            "user": upn,
            "from": "+14255550100",
            "to": numbers[n % len(numbers)],
            "started_at": f"2026-11-02T09:{n % 60:02d}:00Z",
            "duration_seconds": 61 + n,
        }
        for n, (upn, _country) in enumerate(users)
    ]


DOMESTIC = {  # a number in each country, all different
    "US": ["+14255550123", "+12125550199", "+13105550142"],
    "CA": ["+16135550123", "+14165550187"],
    "GB": ["+441612345678", "+442071838750"],
    "DE": ["+4930123456", "+49891234567"],
    "JP": ["+81312345678", "+81612345678"],
    "FR": ["+33123456789", "+33612345678"],
}


def test_a_batch_of_many_users_and_countries_is_rated_pool_by_pool(rated, person):
    """Users of six countries with and without plans, calls home and abroad to different
    numbers: each record takes its own pool's minutes, then credits; the pools add up."""
    grant(rated, "100")
    users = []
    for country in DOMESTIC:
        for n, skus in enumerate(
            [("CALLING_DOMESTIC",), ("CALLING_INTL",), ("COMMS_CREDITS",), ("CALLING_DOMESTIC",)]
        ):
            upn = f"{country.lower()}{n}@contoso.example"
            person(upn.split("@")[0], country, "PHONE_SYSTEM", "COMMS_CREDITS", *skus)
            users.append((upn, country))
    countries = list(DOMESTIC)
    records = []
    for n, (upn, country) in enumerate(users):
        abroad = countries[(countries.index(country) + 1) % len(countries)]
        for where in (country, abroad):
            records += _records([(upn, country)], DOMESTIC[where][n % 2 :], f"{upn}-{where}")
    results = usage_ingest(organisation=rated, records=records)
    assert [r.status for r in results] == ["rated"] * len(records)
    stored = {r.record_id: r for r in UsageRecord.objects.all()}
    for record in records:
        row = stored[record["id"]]
        upn, country = record["user"], row.to_country
        assert row.to_number == record["to"] and row.from_country == "US"
        home = next(c for u, c in users if u == upn)
        assert row.domestic == (country == home)
        assert row.pool_category == ("domestic" if country == home else "international")
        plan = "CALLING_DOMESTIC" if upn[2] in "03" else "CALLING_INTL" if upn[2] == "1" else ""
        covered = plan == "CALLING_INTL" or (plan and country == home)
        assert row.plan_minutes == (row.units if covered else 0), record
        assert row.funded_by == ("plan_minutes" if covered else "credits")
    used = {(p.category, p.country): p.used for p in PoolUsage.objects.filter(used__gt=0)}
    expected: dict = {}
    for row in stored.values():
        if row.plan_minutes:
            country = row.to_country if row.pool_category == "domestic" else ""
            key = (row.pool_category, country)
            expected[key] = expected.get(key, 0) + row.plan_minutes
    assert used == expected
    assert PoolUsage.objects.filter(month=date(2026, 11, 1)).count() >= len(DOMESTIC)


def test_the_queries_of_a_batch_do_not_grow_with_its_pools_and_users(rated, person):
    grant(rated, "100")
    for n, country in enumerate(DOMESTIC):
        for k in range(3):
            person(f"u{n}{k}", country, "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    one_country = [(f"u0{k}@contoso.example", "US") for k in range(3)] * 4
    every_country = [
        (f"u{n}{k}@contoso.example", country)
        for n, country in enumerate(DOMESTIC)
        for k in range(3)
    ][:12]
    counts = []
    for prefix, users in (("one", one_country), ("every", every_country)):
        numbers = [n for country in DOMESTIC for n in DOMESTIC[country]]
        with CaptureQueriesContext(connection) as queries:
            results = usage_ingest(organisation=rated, records=_records(users, numbers, prefix))
        assert {r.status for r in results} == {"rated"}
        counts.append(
            len([q for q in queries if "poolusage" in q["sql"] or "allotment" in q["sql"]])
        )
        counts.append(len(queries))
    pool_queries_one, all_one, pool_queries_every, all_every = counts
    # Six domestic pools instead of one (and the international one): the same queries.
    assert (pool_queries_every, all_every) == (pool_queries_one, all_one)


def test_the_pools_of_a_month_in_queries_that_do_not_grow_with_its_countries(staffed):
    """The planner and the pages read every pool of the month in one query of the pool usage,
    whatever the number of countries; each pool as pool_state gives it."""
    from usage.services.pools import month_of, pool_state, pools_this_month

    month = month_of(datetime.now(UTC))
    PoolUsage.objects.create(
        organisation=staffed, month=month, category=Category.DOMESTIC, country="GB", used=7, held=0
    )
    PoolUsage.objects.create(
        organisation=staffed, month=month, category=Category.INTERNATIONAL, used=3, held=0
    )
    pools = pools_this_month(staffed, month)  # and the pool sizes cached
    assert {(p.category, p.country) for p in pools} >= {
        (Category.DOMESTIC, "GB"),
        (Category.INTERNATIONAL, ""),
    }
    for pool in pools:
        assert pool == pool_state(staffed, pool.category, pool.country, month)
    with CaptureQueriesContext(connection) as queries:
        pools_this_month(staffed, month)
    assert len([q for q in queries if "usage_poolusage" in q["sql"]]) == 1
    assert len(queries) <= 2


def test_the_report_page_reads_the_pools_once(staffed, client_as):
    """The funding planner's pools are the page's pools card too: one read of the pool usage."""
    from django.urls import reverse

    from credits_portal.permissions import Role

    client = client_as(Role.REPORTS)
    client.get(reverse("usage:report"))  # the pool sizes cached
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("usage:report")).status_code == 200
    assert len([q for q in queries if "usage_poolusage" in q["sql"]]) == 1
