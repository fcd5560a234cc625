"""No surprise charges: a save of auto-recharge that charges at once asks first (issue 13, #7)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import RechargeAttempt
from billing.services.agreements import agreement_register
from billing.services.recharge_settings import (
    auto_recharge_configure,
    recharge_method_set,
    recharge_preview,
)
from credits_portal.permissions import Role
from tests.billing.recharge_helpers import save_card, spend
from tests.builders import account_of, grant, make_member
from tests.stripe_helpers import intents_where

pytestmark = pytest.mark.django_db
SAVE = "billing:auto_recharge"
CONFIRM = "billing:auto_recharge_confirm"
# The example: a balance 3,025.35 short of a 5,000 trigger and a "recharge amount" of 100
# charges 3,125.35 at once.
CHARGING = {"enabled": "on", "trigger_amount": "5000", "recharge_amount": "100"}


@pytest.fixture
def short(org):
    """A saved card and a balance of 1,974.65."""
    save_card(org)
    grant(org, "2000")
    spend(org, "25.35", "call-1")
    return org


def hidden_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def settings_of(org) -> tuple:
    account = account_of(org)
    return (account.auto_recharge_enabled, account.recharge_trigger, account.recharge_amount)


def charged(org) -> tuple[int, int]:
    """Recharge attempts in the database, PaymentIntents at the gateway for this organisation."""
    return RechargeAttempt.objects.count(), len(intents_where(organisation=org.slug))


def test_the_preview_is_the_exact_charge_and_the_method(short):
    preview = recharge_preview(
        account=account_of(short), enabled=True, trigger_amount="5000", recharge_amount="100"
    )
    assert (preview.amount_now, preview.currency, preview.method) == (
        Decimal("3125.35"),
        "USD",
        "card",
    )
    assert preview.method_label == "the saved card Visa •••• 4242" and not preview.capped
    off = recharge_preview(
        account=account_of(short), enabled=False, trigger_amount="5000", recharge_amount="100"
    )
    above = recharge_preview(
        account=account_of(short), enabled=True, trigger_amount="20", recharge_amount="100"
    )
    assert off.amount_now is None and above.amount_now is None


def test_an_agreement_is_named_and_invoiced_after_the_confirmation(
    client_as, org, django_capture_on_commit_callbacks
):
    account = account_of(org)
    agreement, _ = agreement_register(
        account=account, number="EA-5550001", credit_limit="5000", payment_terms_days=30
    )
    recharge_method_set(account=account, agreement=agreement)
    client = client_as(Role.BILLING)
    asked = client.post(
        reverse(SAVE), {"enabled": "on", "trigger_amount": "20", "recharge_amount": "100"}
    )
    html = asked.content.decode()
    assert "Invoice 120.00 USD on Enterprise Agreement EA-5550001 now?" in html
    assert not RechargeAttempt.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(reverse(CONFIRM), hidden_fields(html))
    assert done.status_code == 302
    attempt = RechargeAttempt.objects.get()
    assert (attempt.amount, attempt.method, attempt.status) == (
        Decimal("120"),
        "agreement",
        "succeeded",
    )


def test_a_save_that_charges_now_asks_first_and_charges_nothing(
    client_as, short, django_capture_on_commit_callbacks
):
    before = charged(short)
    client = client_as(Role.BILLING)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(SAVE), CHARGING)
    assert response.status_code == 200
    html = response.content.decode()
    assert "3,125.35 USD" in html and "Visa •••• 4242" in html
    assert f'action="{reverse(CONFIRM)}"' in html and 'name="confirmation"' in html
    assert f'href="{reverse("billing:credits")}"' in html  # cancel
    assert charged(short) == before
    assert settings_of(short) == (False, None, None)


def test_confirming_saves_and_queues_exactly_one_recharge(
    client_as, short, django_capture_on_commit_callbacks
):
    before_attempts, before_intents = charged(short)
    client = client_as(Role.BILLING)
    asked = client.post(reverse(SAVE), CHARGING)
    data = hidden_fields(asked.content.decode())
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(reverse(CONFIRM), data)
        again = client.post(reverse(CONFIRM), data)  # a double submit
    assert done.status_code == again.status_code == 302
    assert settings_of(short) == (True, Decimal("5000"), Decimal("100"))
    attempt = RechargeAttempt.objects.get()
    assert (attempt.amount, attempt.status) == (Decimal("3125.35"), "succeeded")
    assert charged(short) == (before_attempts + 1, before_intents + 1)
    assert account_of(short).balance == Decimal("5100.00")
    page = client.get(reverse("billing:credits")).content.decode()
    assert "3,125.35 USD" in page


def test_cancelling_leaves_the_settings_as_they_were(
    client_as, short, django_capture_on_commit_callbacks
):
    auto_recharge_configure(
        account=account_of(short), enabled=True, trigger_amount="20", recharge_amount="50"
    )
    client = client_as(Role.BILLING)
    with django_capture_on_commit_callbacks(execute=True):
        asked = client.post(reverse(SAVE), CHARGING)
        back = client.get(reverse("billing:credits"))  # the Cancel link
    assert asked.status_code == 200 and back.status_code == 200
    assert f'href="{reverse("billing:credits")}">Cancel</a>' in asked.content.decode()
    assert settings_of(short) == (True, Decimal("20"), Decimal("50"))
    assert not RechargeAttempt.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"enabled": "on", "trigger_amount": "20", "recharge_amount": "50"},
        {"enabled": "", "trigger_amount": "5000", "recharge_amount": "100"},
    ],
)
def test_a_save_that_charges_nothing_saves_directly(
    client_as, short, data, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_as(Role.BILLING).post(reverse(SAVE), data)
    assert response.status_code == 302
    assert settings_of(short) == (
        bool(data["enabled"]),
        Decimal(data["trigger_amount"]),
        Decimal(data["recharge_amount"]),
    )
    assert not RechargeAttempt.objects.exists()


@pytest.mark.parametrize(
    "confirmation", ["", "forged", "eyJhIjoxfQ:1tFake:Signature", "reuse-with-a-bigger-amount"]
)
def test_a_post_that_skips_the_confirmation_does_not_charge(
    client_as, short, confirmation, django_capture_on_commit_callbacks
):
    client = client_as(Role.BILLING)
    data = {**CHARGING, "confirmation": confirmation}
    if confirmation == "reuse-with-a-bigger-amount":
        # A real confirmation, for 100 a recharge, sent with 5,000 instead.
        asked = client.post(reverse(SAVE), CHARGING)
        data = {**hidden_fields(asked.content.decode()), "recharge_amount": "5000"}
    before = charged(short)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(CONFIRM), data)
    assert response.status_code == 200
    html = response.content.decode()
    expected = "8,025.35 USD" if confirmation == "reuse-with-a-bigger-amount" else "3,125.35 USD"
    assert expected in html  # the confirmation page again, with what it would really charge
    assert charged(short) == before
    assert settings_of(short) == (False, None, None)


def test_the_confirmation_is_for_the_amount_shown(
    client_as, short, django_capture_on_commit_callbacks
):
    """Usage between the question and the answer changes the charge: ask again, charge nothing."""
    client = client_as(Role.BILLING)
    data = hidden_fields(client.post(reverse(SAVE), CHARGING).content.decode())
    spend(short, "100", "call-2")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(CONFIRM), data)
    assert response.status_code == 200 and "3,225.35 USD" in response.content.decode()
    assert "changed" in response.content.decode()
    assert not RechargeAttempt.objects.exists() and settings_of(short) == (False, None, None)


def test_confirm_is_for_billing_managers_of_this_organisation_only(
    client, client_as, short, other_org, django_capture_on_commit_callbacks
):
    data = hidden_fields(client_as(Role.BILLING).post(reverse(SAVE), CHARGING).content.decode())
    assert client_as(Role.REPORTS).post(reverse(CONFIRM), data).status_code == 403
    assert client_as(Role.REPORTS).post(reverse(SAVE), CHARGING).status_code == 403
    assert client_as(Role.BILLING).get(reverse(CONFIRM)).status_code == 405
    # Another organisation's admin replaying this organisation's confirmation touches only
    # their own account (which has no card): nothing is charged, here or there.
    client.force_login(make_member(other_org, Role.BILLING))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(CONFIRM), data)
    assert response.status_code == 200
    assert b"Save a card or choose an Enterprise Agreement" in response.content
    assert settings_of(short) == (False, None, None) and settings_of(other_org)[0] is False
    assert not RechargeAttempt.objects.exists()


def test_a_capped_charge_is_asked_for_at_the_maximum_and_says_so(client_as, org):
    """The issue's debt of 3,370.18 with trigger = recharge = 10,000: the page asks for the
    10,000.00 maximum (not 23,370.18) and says further recharges follow."""
    save_card(org)
    spend(org, "3370.18", "call-debt")
    preview = recharge_preview(
        account=account_of(org), enabled=True, trigger_amount="10000", recharge_amount="10000"
    )
    assert (preview.amount_now, preview.capped) == (Decimal("10000.00"), True)
    before = charged(org)
    html = (
        client_as(Role.BILLING)
        .post(
            reverse(SAVE),
            {"enabled": "on", "trigger_amount": "10000", "recharge_amount": "10000"},
        )
        .content.decode()
    )
    assert "10,000.00" in html and "23,370.18" not in html and "(capped)" in html
    assert charged(org) == before
