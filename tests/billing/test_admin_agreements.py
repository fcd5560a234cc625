"""The Django admin: operators register and approve agreements and mark due invoices paid."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.test import Client

from billing.models import EnterpriseAgreement, Invoice
from billing.services.agreements import agreement_register, agreement_request
from billing.services.purchases import agreement_purchase
from credits_portal.models import User
from tests.builders import account_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    user = User.objects.create_superuser("ops@example.net", "Correct-Horse-Battery-9")
    client = Client()
    client.force_login(user)
    return client


def test_an_operator_registers_an_agreement_with_a_limit(operator, org):
    response = operator.post(
        "/admin/billing/enterpriseagreement/add/",
        {
            "organisation": org.pk,
            "number": "EA-4500123",
            "name": "Contoso EA",
            "credit_limit": "25000.00",
            "payment_terms_days": "60",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    agreement = EnterpriseAgreement.objects.get()
    assert (agreement.status, agreement.credit_limit, agreement.payment_terms_days) == (
        "active",
        Decimal("25000"),
        60,
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"credit_limit": ""}, "credit_limit"),
        ({"credit_limit": "0"}, "credit_limit"),
        ({"credit_limit": "10.001"}, "credit_limit"),
        ({"payment_terms_days": "121"}, "payment_terms_days"),
        ({"number": "x"}, "number"),
    ],
)
def test_bad_registrations_in_the_admin_name_the_field(operator, org, data, field):
    response = operator.post(
        "/admin/billing/enterpriseagreement/add/",
        {
            "organisation": org.pk,
            "number": "EA-4500123",
            "credit_limit": "100",
            "payment_terms_days": "30",
            **data,
        },
    )
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not EnterpriseAgreement.objects.exists()


def test_the_approve_action_needs_a_credit_limit(operator, org):
    request = agreement_request(account=account_of(org), number="FAKE-0001")
    changelist = "/admin/billing/enterpriseagreement/"
    action = {"action": "approve", "_selected_action": [request.pk]}
    operator.post(changelist, action)
    request.refresh_from_db()
    assert request.status == "requested", "no limit, no approval"
    EnterpriseAgreement.objects.filter(pk=request.pk).update(credit_limit=Decimal("500"))
    operator.post(changelist, action)
    request.refresh_from_db()
    assert (request.status, request.credit_limit) == ("active", Decimal("500"))
    page = operator.get(changelist).content.decode()
    assert "0.00 USD" in page  # the unpaid total


def test_the_mark_paid_action_frees_the_limit_and_changes_nothing_else(operator, org):
    agreement, _ = agreement_register(
        account=account_of(org), number="EA-4500123", credit_limit="100"
    )
    lot = agreement_purchase(
        account=account_of(org), agreement=agreement, amount=Decimal("100"), reference="r1"
    )
    before = Invoice.objects.values().get(pk=lot.invoice.pk)
    action = {"action": "mark_paid", "_selected_action": [lot.invoice.pk]}
    operator.post("/admin/billing/invoice/", action)
    operator.post("/admin/billing/invoice/", action)  # idempotent
    after = Invoice.objects.values().get(pk=lot.invoice.pk)
    assert (after.pop("status"), after.pop("paid_at") is not None) == ("paid", True)
    before.pop("status"), before.pop("paid_at")
    assert after == before
    agreement_purchase(
        account=account_of(org),
        agreement=agreement,
        amount=Decimal("100"),
        reference=str(uuid.uuid4()),
    )
    # Invoices cannot be edited or deleted in the admin.
    change = operator.post(f"/admin/billing/invoice/{lot.invoice.pk}/change/", {"total": "1"})
    assert change.status_code == 403 or Invoice.objects.get(pk=lot.invoice.pk).total == Decimal(
        "100"
    )
    assert operator.get(f"/admin/billing/invoice/{lot.invoice.pk}/delete/").status_code == 403
