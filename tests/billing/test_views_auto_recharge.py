from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from billing.services.recharge import recharge_run
from credits_portal.permissions import Role
from tests.billing.recharge_helpers import save_card, spend, turn_on
from tests.builders import account_of
from tests.stripe_helpers import NEEDS_AUTHENTICATION

pytestmark = pytest.mark.django_db


def test_the_help_text_states_the_configured_recharge_terms(client_as, org, settings):
    settings.RECHARGE_MAX_PER_DAY = 7
    settings.RECHARGE_RETRY_HOURS = [2, 12]
    settings.RECHARGE_MAX_FAILURES = 4
    client = client_as(Role.BILLING)
    page = client.get(reverse("billing:credits"))
    refused = client.post(
        reverse("billing:auto_recharge"), {"enabled": "on", "trigger_amount": "x"}
    )
    for text in (page.content.decode(), refused.content.decode()):
        assert "At most 7 recharges run in 24 hours" in text
        assert "retried after 2 and 12 hours" in text and "or 4 in a row" in text
    settings.RECHARGE_RETRY_HOURS = [1]
    assert "retried after 1 hour;" in client.get(reverse("billing:credits")).content.decode()


def test_turn_on_from_the_page_and_see_the_recharge(client_as, org):
    save_card(org)
    client = client_as(Role.BILLING)
    page = client.get(reverse("billing:credits"))
    assert (
        b"One charge closes the gap" in page.content
        and b"At most 5 recharges run in 24 hours" in page.content
    )
    asked = client.post(
        reverse("billing:auto_recharge"),
        {"enabled": "on", "trigger_amount": "20", "recharge_amount": "50"},
    )
    # The balance (0) is under the trigger: saving charges 70.00 now, so the page asks first.
    assert asked.status_code == 200 and b"Charge 70.00 USD to the saved card" in asked.content
    response = client.post(
        reverse("billing:auto_recharge_confirm"),
        {
            "enabled": "on",
            "trigger_amount": "20.00",
            "recharge_amount": "50.00",
            "confirmation": asked.context["confirmation"],
        },
    )
    assert response.status_code == 302
    account = account_of(org)
    assert (account.auto_recharge_enabled, account.recharge_trigger, account.recharge_amount) == (
        True,
        Decimal("20"),
        Decimal("50"),
    )
    spend(org, "1", "call-1")
    recharge_run(account_id=account.pk)
    page = client.get(reverse("billing:credits")).content.decode()
    assert "71.00 USD" in page and "Succeeded" in page and "CONTOSO-000001" in page


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"enabled": "on", "trigger_amount": "", "recharge_amount": "50"}, "trigger_amount"),
        ({"enabled": "on", "trigger_amount": "abc", "recharge_amount": "50"}, "trigger_amount"),
        ({"enabled": "on", "trigger_amount": "20", "recharge_amount": "9.99"}, "recharge_amount"),
        ({"enabled": "on", "trigger_amount": "20", "recharge_amount": "10.001"}, "recharge_amount"),
    ],
)
def test_bad_values_are_shown_next_to_the_field(client_as, org, data, field):
    save_card(org)
    response = client_as(Role.BILLING).post(reverse("billing:auto_recharge"), data)
    assert response.status_code == 200 and field in response.context["form"].errors
    assert account_of(org).auto_recharge_enabled is False


def test_turning_on_without_a_card_says_why(client_as, org):
    response = client_as(Role.BILLING).post(
        reverse("billing:auto_recharge"),
        {"enabled": "on", "trigger_amount": "20", "recharge_amount": "50"},
    )
    assert b"Save a card or choose an Enterprise Agreement" in response.content
    assert account_of(org).auto_recharge_enabled is False


def test_a_suspension_shows_a_banner(client_as, org):
    turn_on(org, number=NEEDS_AUTHENTICATION)
    recharge_run(account_id=account_of(org).pk)
    page = client_as(Role.GLOBAL).get(reverse("billing:credits")).content.decode()
    assert "Auto-recharge is suspended" in page and "Update the card" in page
    assert "authentication_required" in page
