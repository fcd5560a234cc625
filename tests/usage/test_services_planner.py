"""The funding planner's worked example and the daily chart."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from billing.services.recharge_settings import auto_recharge_configure  # noqa: F401  (the apply target)
from credits_portal.permissions import Role
from tests.builders import account_of, grant
from usage.chart import report_chart
from usage.models import UsageRecord
from usage.services.aggregates import UsageSlice
from usage.services.ingest import usage_ingest
from usage.services.planner import daily_series, funding_plan

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture
def spending(rated, person):
    """0.23 USD of credits a day for the last 10 days (10 minutes a day to the UK at 0.0230)."""
    person("ana", "US", "PHONE_SYSTEM", "COMMS_CREDITS")
    grant(rated, "100")
    with time_machine.travel(NOW, tick=False):
        records = [
            {
                "id": f"c{d}",
                "kind": "call",
                "type": "outbound",
                "user": "ana@contoso.example",
                "to": "+441612345678",
                "started_at": (NOW - timedelta(days=d, hours=1)).isoformat().replace("+00:00", "Z"),
                "duration_seconds": 600,
            }
            for d in range(10)
        ]
        assert {r.status for r in usage_ingest(organisation=rated, records=records)} == {"rated"}
    return rated


def test_the_worked_example(spending):
    with time_machine.travel(NOW, tick=False):
        plan = funding_plan(spending)
    # 7 days: 7 x 0.23 / 7 = 0.23; 28 days: 10 x 0.23 / 28 = 0.08; 90 days: 2.30 / 90 = 0.03.
    assert plan.daily == {7: Decimal("0.23"), 28: Decimal("0.08"), 90: Decimal("0.03")}
    assert plan.balance == Decimal("97.70") and plan.days_left == 424  # 97.70 / 0.23
    # A week (1.61) and a month (6.90) of spend, rounded up to tens and to the smallest purchase.
    assert (plan.trigger, plan.recharge) == (Decimal("10"), Decimal("10"))
    assert "0.23" in plan.reasoning[0]


def test_no_spend_no_recommendation(rated):
    plan = funding_plan(rated)
    assert plan.days_left is None and plan.trigger is None


def test_the_daily_chart_follows_the_filters(spending):
    calls = UsageSlice(spending.pk, UsageRecord.Kind.CALL, date(2026, 11, 10), date(2026, 11, 20))
    series = daily_series(calls)
    assert len(series) == 11 and series[0][1] == 0 and series[-1][1] == Decimal("0.23")
    assert sum(units for _d, _s, units in series) == 100
    drawn = report_chart(series, unit="day")
    assert len(drawn.bars) == 11 and drawn.bars[0]["h"] == 0 and drawn.max_units == 10
    nothing = replace(calls, end=date(2026, 11, 12), nothing=True)
    assert daily_series(nothing)[0][1:] == (
        Decimal(0),
        0,
    )


def planner_form(html: str) -> dict[str, str]:
    """The hidden fields of the planner's Apply form, as the browser sends them."""
    form = html[html.index('<section class="card planner"') :]
    form = form[: form.index("</form>")]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


def test_apply_from_the_report_shows_then_sets_auto_recharge(client_as, spending):
    """Nothing is charged now (97.70 is above the trigger), yet Apply shows what it sets first."""
    from billing.models import RechargeAttempt
    from tests.billing.recharge_helpers import save_card

    save_card(spending)
    client = client_as(Role.BILLING)
    with time_machine.travel(NOW, tick=True):
        page = client.get(reverse("usage:report"))
        assert b"Apply to auto-recharge" in page.content
        asked = client.post(reverse("billing:auto_recharge"), planner_form(page.content.decode()))
    assert asked.status_code == 200 and b"Nothing is charged now" in asked.content
    assert account_of(spending).auto_recharge_enabled is False
    response = client.post(
        reverse("billing:auto_recharge_confirm"),
        dict(
            re.findall(
                r'<input type="hidden" name="([^"]+)" value="([^"]*)"', asked.content.decode()
            )
        ),
    )
    assert response.status_code == 302
    account = account_of(spending)
    assert (account.auto_recharge_enabled, account.recharge_trigger, account.recharge_amount) == (
        True,
        Decimal("10"),
        Decimal("10"),
    )
    assert not RechargeAttempt.objects.exists()


def test_the_planner_is_on_the_credits_page_too(client_as, spending):
    assert b"Funding planner" in client_as(Role.BILLING).get(reverse("billing:credits")).content


def test_apply_that_would_charge_now_asks_first(
    client_as, spending, django_capture_on_commit_callbacks
):
    """Balance 2.70 under the recommended trigger of 10: Apply names the charge before it happens."""
    from billing.models import RechargeAttempt
    from billing.services.ledger import funds_debit
    from tests.billing.recharge_helpers import save_card

    save_card(spending)
    funds_debit(account=account_of(spending), amount=Decimal("95"), reference="call-big")
    client = client_as(Role.BILLING)
    with time_machine.travel(NOW, tick=True):
        page = client.get(reverse("billing:credits"))
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("billing:auto_recharge"), planner_form(page.content.decode())
            )
    # 10 recharge + 7.30 the balance lacks of the 10 trigger, on the saved card.
    assert response.status_code == 200
    assert (
        "17.30 USD" in response.content.decode() and "Visa •••• 4242" in response.content.decode()
    )
    assert not RechargeAttempt.objects.exists()
    assert account_of(spending).auto_recharge_enabled is False
