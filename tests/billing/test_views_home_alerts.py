"""Home alerts (issue 17, item 6): at the top of Home and the Credits page, each appears with its
condition and disappears with it, and names the action that resolves it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import CreditAccount, RechargeAttempt
from billing.services.ledger import funds_debit
from billing.services.recharge_settings import recharge_resume
from credits_portal.permissions import Role
from tests.builders import account_of, grant, licensed_user, make_member, make_org, seats
from usage.models import PoolUsage
from usage.services.pools import month_of

PAGES = ["home", "billing:credits"]


def alerts_on(client, name: str) -> dict[str, str]:
    """The alerts a page shows: kind → the alert's HTML."""
    html = client.get(reverse(name)).content.decode()
    found = {}
    for part in html.split('data-alert="')[1:]:
        kind, rest = part.split('"', 1)
        found[kind] = rest.split("</li>", 1)[0]
    return found


def alerts(client) -> dict[str, str]:
    home, credits = (alerts_on(client, name) for name in PAGES)
    assert home == credits, "Home and the Credits page show the same alerts"
    return home


@pytest.fixture
def billing_client(client_as):
    return client_as(Role.BILLING)


def _auto_recharge(org, trigger: str = "100.00") -> None:
    CreditAccount.objects.filter(organisation=org).update(
        auto_recharge_enabled=True,
        recharge_trigger=Decimal(trigger),
        recharge_amount=Decimal("200.00"),
    )


def test_no_alert_when_all_is_well(billing_client, org):
    grant(org, "500.00")
    assert alerts(billing_client) == {}


def test_zero_balance_alert_appears_and_disappears(billing_client, org):
    found = alerts(billing_client)
    assert list(found) == ["zero"]
    assert "Add funds" in found["zero"] and reverse("billing:add_funds") in found["zero"]
    grant(org, "10.00")
    assert alerts(billing_client) == {}


def test_debt_is_an_alert_and_the_balance_is_marked(billing_client, org):
    grant(org, "10.00")
    funds_debit(account=account_of(org), amount=Decimal("15.00"), reference="call-1")
    found = alerts(billing_client)
    assert list(found) == ["debt"]
    assert "-5.00" in found["debt"] and reverse("billing:add_funds") in found["debt"]
    for name in PAGES:
        html = billing_client.get(reverse(name)).content.decode()
        assert 'class="figure negative"' in html and "in debt" in html
    grant(org, "20.00")  # pays the debt first
    assert alerts(billing_client) == {}
    assert "figure negative" not in billing_client.get(reverse("home")).content.decode()


def test_below_the_trigger_alert_appears_and_disappears(billing_client, org):
    grant(org, "50.00")
    _auto_recharge(org)
    found = alerts(billing_client)
    assert list(found) == ["below_trigger"]
    assert "100.00" in found["below_trigger"] and "#ar-h" in found["below_trigger"]
    grant(org, "60.00")
    assert alerts(billing_client) == {}


def test_a_suspended_recharge_gives_its_reason_and_the_fix(billing_client, org):
    grant(org, "500.00")
    _auto_recharge(org)
    CreditAccount.objects.filter(organisation=org).update(
        recharge_suspended_at=timezone.now(), recharge_suspended_reason="the card has expired"
    )
    found = alerts(billing_client)
    assert list(found) == ["recharge_suspended"]
    assert "the card has expired" in found["recharge_suspended"]
    assert reverse("billing:card_replace") in found["recharge_suspended"]
    recharge_resume(account=account_of(org))  # what saving a new card does
    assert alerts(billing_client) == {}


def test_a_failed_recharge_gives_its_reason_until_one_succeeds(billing_client, org):
    grant(org, "500.00")
    _auto_recharge(org)
    account = account_of(org)
    RechargeAttempt.objects.create(
        account=account,
        method="card",
        amount=Decimal("200.00"),
        balance_before=Decimal("90.00"),
        status=RechargeAttempt.Status.FAILED,
        failure_code="insufficient_funds",
        failure_message="Your card has insufficient funds.",
        created_at=timezone.now() - timedelta(hours=2),
    )
    found = alerts(billing_client)
    assert list(found) == ["recharge_failed"]
    assert "insufficient funds" in found["recharge_failed"]
    assert reverse("billing:card_replace") in found["recharge_failed"]
    RechargeAttempt.objects.create(
        account=account,
        method="card",
        amount=Decimal("200.00"),
        balance_before=Decimal("90.00"),
        status=RechargeAttempt.Status.SUCCEEDED,
        lot=grant(org, "200.00"),
    )
    assert alerts(billing_client) == {}


def test_funds_expiring_within_30_days_alert_appears_and_disappears(billing_client, org):
    grant(org, "500.00")
    grant(org, "40.00", purchased_at=timezone.now() - timedelta(days=350))
    found = alerts(billing_client)
    assert list(found) == ["expiring"]
    assert "40.00" in found["expiring"] and "#lots-h" in found["expiring"]
    funds_debit(account=account_of(org), amount=Decimal("40.00"), reference="calls")  # oldest first
    assert alerts(billing_client) == {}


def test_a_pool_at_80_percent_alert_appears_and_disappears(client_as, org):
    grant(org, "500.00")
    seats(org, PHONE_SYSTEM=1, CALLING_DOMESTIC=1)
    licensed_user(org, "ana@contoso.example", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    month = month_of(timezone.now())
    pool = PoolUsage.objects.create(
        organisation=org, month=month, category="domestic", country="US", used=2400
    )
    admin = client_as(Role.GLOBAL)
    found = alerts(admin)
    assert list(found) == ["pool"]
    assert "80 %" in found["pool"] and reverse("licensing:licenses") in found["pool"]
    assert "Communications Credits" in found["pool"]
    PoolUsage.objects.filter(pk=pool.pk).update(used=2399)
    assert alerts(admin) == {}


def test_roles_see_what_they_may_act_on(client_as, org):
    funds_debit(account=account_of(org), amount=Decimal("1.00"), reference="call-1")
    reports = alerts_on(client_as(Role.REPORTS), "home")
    assert reports == {}, "a reports reader sees no credit alerts"
    billing = alerts(client_as(Role.BILLING))
    assert reverse("billing:add_funds") in billing["debt"]


def test_new_commerce_has_no_credit_alerts(client, db):
    newco = make_org("newco", commerce="new")
    client.force_login(make_member(newco, Role.GLOBAL))
    assert alerts(client) == {}
