"""Issue 16, item 3: Reports › PSTN minute pools, and the Communications Credits pool beside it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from credits_portal.permissions import Role
from tests.builders import grant
from usage.models import PoolUsage
from usage.services.ingest import usage_ingest
from usage.services.pools import month_of

pytestmark = pytest.mark.django_db
US = "+14255550123"


def this_month() -> date:
    return month_of(datetime.now(UTC))


def last_month() -> date:
    return month_of(datetime.now(UTC).replace(day=1) - timedelta(days=1))


def ask(platform, upn: str, to: str = US) -> dict:
    body = platform("/calls/authorize", {"user": upn, "type": "outbound", "to": to}).json()
    assert body["allowed"], body
    return body


def row(page, country: str, category: str = "domestic"):
    (found,) = [
        r for r in page.context["report"].rows if (r.country, r.category) == (country, category)
    ]
    return found


@pytest.fixture
def pools(rated, person):
    """contoso: two US users with domestic calling (6,000 minutes), one GB user (1,200), used
    minutes this month and last month, and 40 USD of credits."""
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    person("bob", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    person("cy", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    grant(rated, "40")
    PoolUsage.objects.create(
        organisation=rated, month=this_month(), category="domestic", country="US", used=1500
    )
    PoolUsage.objects.create(
        organisation=rated, month=last_month(), category="domestic", country="GB", used=700
    )
    return rated


def test_pools_of_this_month_with_minutes_held_by_open_authorizations(client_as, pools, platform):
    held = ask(platform, "ana@contoso.example")
    assert held["funded_by"] == "plan_minutes"  # 240 minutes (the 4-hour cap) held
    page = client_as(Role.REPORTS).get(reverse("usage:pools"))
    assert page.status_code == 200
    us = row(page, "US")
    assert (us.size, us.used, us.held, us.available) == (6000, 1500, 240, 4260)
    gb = row(page, "GB")
    assert (gb.size, gb.used, gb.held, gb.available) == (1200, 0, 0, 1200)
    html = page.content.decode()
    # The chart's figures are text, readable without hovering.
    assert "1500 used · 240 held · 4260 available of 6000 (25 %)" in html
    assert f"PSTN minute pools, {this_month():%B %Y}" in html


def test_a_past_month_shows_what_was_used_and_nothing_held(client_as, pools, platform):
    ask(platform, "ana@contoso.example")
    page = client_as(Role.REPORTS).get(reverse("usage:pools"), {"month": f"{last_month():%Y-%m}"})
    assert page.status_code == 200
    gb = row(page, "GB")
    assert (gb.size, gb.used, gb.held, gb.available) == (1200, 700, 0, 500)
    us = row(page, "US")
    assert (us.used, us.held) == (0, 0), "this month's use and holds are not last month's"
    assert page.context["report"].current is False


def test_the_communications_credits_pool_beside_them(client_as, pools, rated, person):
    results = usage_ingest(
        organisation=rated,
        records=[
            {
                "id": "intl-1",
                "kind": "call",
                "type": "outbound",
                "user": "cy@contoso.example",
                "to": "+14255550123",  # international for a GB user: credits at 0.0190
                "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "duration_seconds": 600,
            }
        ],
    )
    assert results[0].status == "rated" and results[0].funded_by == "credits"
    credits = client_as(Role.REPORTS).get(reverse("usage:pools")).context["report"].credits
    assert credits.balance == Decimal("40") - Decimal(results[0].charge)
    assert credits.spent == Decimal(results[0].charge) > 0
    assert credits.available == credits.balance
    assert credits.days_left is not None and credits.days_left > 0


def test_the_pools_are_in_the_navigation_and_linked_from_home(client_as, pools):
    home = client_as(Role.GLOBAL).get(reverse("home")).content.decode()
    assert home.count(reverse("usage:pools")) >= 2  # the navigation and the pools card
    assert reverse("usage:refused_calls") in home


@pytest.mark.parametrize(
    "month",
    [
        "2026-13",
        "2026-00",
        "0000-01",
        "1999-12",
        "26-01",
        "2026-1",
        "\x00",
        "x" * 10_000,
        "2999-01",
    ],
)
def test_impossible_months_are_400_naming_month(client_as, pools, month):
    response = client_as(Role.REPORTS).get(reverse("usage:pools"), {"month": month})
    assert response.status_code == 400
    assert "month" in response.content.decode()


def test_another_organisations_pools_never_show(client_as, pools, other_org):
    PoolUsage.objects.create(
        organisation=other_org, month=this_month(), category="domestic", country="FR", used=999
    )
    PoolUsage.objects.create(
        organisation=other_org, month=last_month(), category="domestic", country="GB", used=55
    )
    client = client_as(Role.GLOBAL)
    for params in ({}, {"month": f"{last_month():%Y-%m}"}):
        report = client.get(reverse("usage:pools"), params).context["report"]
        assert "FR" not in {r.country for r in report.rows}
        assert 999 not in {r.used for r in report.rows} and 55 not in {r.used for r in report.rows}


@pytest.mark.parametrize(
    ("role", "status"),
    [(r, 200) for r in (Role.GLOBAL, Role.BILLING, Role.REPORTS)] + [(Role.LICENSE, 403)],
)
def test_who_may_read_the_pools(client_as, pools, role, status):
    assert client_as(role).get(reverse("usage:pools")).status_code == status
