"""Adversarial: a new-commerce organisation never reaches a credit purchase, by any door: the
portal's POSTs, the API, the commands, and an operator switching an organisation's commerce
while its auto-recharge is on."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from billing.models import FundLot, Payment, RechargeAttempt
from billing.services.recharge import recharge_run
from billing.services.verify import ledger_verify
from credits_portal.models import Organisation, User
from credits_portal.permissions import Role
from tests.billing.recharge_helpers import spend, turn_on
from tests.builders import account_of, grant, make_api_key, make_member, make_org
from tests.stripe_helpers import intents_where

pytestmark = pytest.mark.django_db


def test_switched_to_new_commerce_with_auto_recharge_on_charges_no_card(org):
    """An operator moves a legacy organisation to new commerce while its auto-recharge is on:
    no recharge may charge the card for credits the ledger will refuse to add."""
    grant(org, "30")
    turn_on(org, trigger="20.00", amount="50.00")
    Organisation.objects.filter(pk=org.pk).update(commerce="new")
    spend(org, "15", "usage:x1")  # below the trigger
    account = account_of(org)
    # The gateway is shared by the whole run, and other tests' organisations are also "contoso".
    before = {pi.id for pi in intents_where(organisation=org.slug)}
    assert recharge_run(account_id=account.pk) is None
    assert not RechargeAttempt.objects.exists()
    assert {pi.id for pi in intents_where(organisation=org.slug)} == before
    assert ledger_verify() == []


def test_the_commerce_model_is_not_editable_in_the_admin(org):
    operator = Client()
    operator.force_login(User.objects.create_superuser("ops@example.net", "Correct-Horse-9x"))
    page = operator.get(f"/admin/credits_portal/organisation/{org.pk}/change/")
    assert page.status_code == 200
    assert 'name="commerce"' not in page.content.decode()


def test_no_door_buys_credits_for_new_commerce(client):
    newco = make_org("newco", name="NewCo", commerce="new")
    portal = Client()
    portal.force_login(make_member(newco, Role.GLOBAL))
    for path, data in [
        ("/billing/credits/add/", {"amount": "50.00"}),
        ("/billing/credits/add/agreement/", {"amount": "50.00", "agreement": "EA-4500123"}),
        ("/billing/credits/auto-recharge/", {"enabled": "on", "trigger": "20", "amount": "50"}),
    ]:
        response = portal.post(path, data)
        assert response.status_code in (200, 302, 400, 403, 404, 409), path
        assert not account_of(newco).auto_recharge_enabled, path
    key = make_api_key(newco, "admin")
    response = client.post(
        "/api/v1/account/purchases",
        {"amount": "50.00"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code in (403, 409, 422), response.content
    response = client.put(
        "/api/v1/account/auto-recharge",
        {"enabled": True, "trigger_amount": "20.00", "recharge_amount": "50.00"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code in (403, 409, 422), response.content
    assert not account_of(newco).auto_recharge_enabled
    with pytest.raises(Exception):
        call_command("grant_funds", "newco", "50")
    assert not FundLot.objects.exists()
    assert not Payment.objects.exists()
    assert account_of(newco).balance == 0
    assert ledger_verify() == []
