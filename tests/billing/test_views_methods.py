from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from billing.models import Card, CreditAccount, EnterpriseAgreement, FundLot, Invoice
from billing.services.agreements import agreement_register
from credits_portal.permissions import Role
from tests.builders import account_of
from tests.stripe_helpers import VISA, confirm_setup

pytestmark = pytest.mark.django_db


@pytest.fixture
def billing_client(client_as):
    return client_as(Role.BILLING)


def save_card(client, number: str = VISA) -> Card:
    page = client.get(reverse("billing:card_replace"))
    setup_id = page.context["setup_secret"].split("_secret_")[0]
    confirm_setup(setup_id, number)
    response = client.post(reverse("billing:card_replace"), {"setup_intent": setup_id})
    assert response.status_code == 302
    return Card.objects.get(removed_at__isnull=True)


def test_save_replace_and_remove_the_card(billing_client, org):
    first = save_card(billing_client)
    assert b"Visa" in billing_client.get(reverse("billing:payment_methods")).content
    second = save_card(billing_client, "5555555555554444")
    first.refresh_from_db()
    assert first.removed_at is not None and second.last4 == "4444"
    assert (
        billing_client.post(reverse("billing:card_remove", args=[second.code])).status_code == 302
    )
    assert not Card.objects.filter(removed_at__isnull=True).exists()


def test_a_made_up_setup_intent_saves_nothing(billing_client, org):
    response = billing_client.post(reverse("billing:card_replace"), {"setup_intent": "seti_madeup"})
    assert response.status_code == 302 and not Card.objects.exists()


def test_agreements_and_the_default_for_auto_recharge(billing_client, org):
    response = billing_client.post(
        reverse("billing:agreement_new"),
        {"number": "EA-1000200", "name": "Main", "payment_terms_days": 30},
    )
    assert response.status_code == 302
    # The admin's request, approved by the operator with a credit limit.
    agreement, outcome = agreement_register(
        account=account_of(org), number="EA-1000200", credit_limit="5000"
    )
    assert outcome == "approved" and agreement == EnterpriseAgreement.objects.get()
    billing_client.post(reverse("billing:recharge_method"), {"method": str(agreement.code)})
    account = account_of(org)
    assert (account.recharge_method, account.recharge_agreement) == ("agreement", agreement)
    billing_client.post(reverse("billing:agreement_remove", args=[agreement.code]))
    account = CreditAccount.objects.get(pk=account.pk)
    assert (account.recharge_method, account.recharge_agreement) == ("card", None)
    billing_client.post(reverse("billing:recharge_method"), {"method": "bogus"})
    assert CreditAccount.objects.get(pk=account.pk).recharge_method == "card"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"number": "", "payment_terms_days": 30}, "number"),
        ({"number": "a b", "payment_terms_days": 30}, "number"),
        ({"number": "EA1", "payment_terms_days": 30}, "number"),
        ({"number": "EA-1000200", "payment_terms_days": 500}, "payment_terms_days"),
        ({"number": "EA-1000200", "payment_terms_days": -1}, "payment_terms_days"),
        ({"number": "EA-1000200", "payment_terms_days": "x"}, "payment_terms_days"),
    ],
)
def test_bad_agreements_are_refused(billing_client, org, data, field):
    response = billing_client.post(reverse("billing:agreement_new"), data)
    assert response.status_code == 200 and field in response.context["form"].errors
    assert not EnterpriseAgreement.objects.exists()


def test_the_same_agreement_twice_is_refused(billing_client, org):
    data = {"number": "EA-1000200", "payment_terms_days": 30}
    billing_client.post(reverse("billing:agreement_new"), data)
    response = billing_client.post(reverse("billing:agreement_new"), data)
    assert "already registered" in str(response.context["form"].errors)
    assert EnterpriseAgreement.objects.count() == 1


def test_a_self_declared_agreement_funds_nothing(billing_client, org):
    """Issue 13, finding 1: FAKE-0001 with 120-day terms, declared on Payment methods, then three
    purchases of 10,000 on it. A request does nothing until an operator approves it."""
    response = billing_client.post(
        reverse("billing:agreement_new"), {"number": "FAKE-0001", "payment_terms_days": 120}
    )
    assert response.status_code == 302
    agreement = EnterpriseAgreement.objects.get(number="FAKE-0001")
    for _ in range(3):
        data = {
            "amount": "10000",
            "method": str(agreement.code),
            "po_number": "",
            "form_token": str(uuid.uuid4()),
        }
        billing_client.post(reverse("billing:add_funds"), data)
        billing_client.post(reverse("billing:add_funds_agreement"), data)
    assert account_of(org).balance == 0
    assert not FundLot.objects.exists() and not Invoice.objects.exists()
    billing_client.post(reverse("billing:recharge_method"), {"method": str(agreement.code)})
    account = account_of(org)
    assert (account.recharge_method, account.recharge_agreement) == ("card", None)
    agreement.refresh_from_db()
    assert agreement.status == "requested"
    page = billing_client.get(reverse("billing:payment_methods")).content.decode()
    assert "FAKE-0001" in page and "waiting for approval" in page
    add_funds = billing_client.get(reverse("billing:add_funds")).content.decode()
    assert "FAKE-0001" not in add_funds
