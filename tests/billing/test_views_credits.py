"""Billing › Communications Credits and Add funds, as an admin uses them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import FundLot, Invoice, LedgerEntry, Payment
from billing.services.agreements import agreement_register
from billing.services.ledger import funds_debit
from credits_portal.permissions import Role
from tests.builders import account_of, grant, make_api_key, make_member, make_org

pytestmark = pytest.mark.django_db


@pytest.fixture
def billing_client(client_as):
    return client_as(Role.BILLING)


@pytest.fixture
def agreement(org):
    agreement, _ = agreement_register(
        account=account_of(org),
        number="EA-7654321",
        name="EMEA",
        payment_terms_days=45,
        credit_limit="5000",
    )
    return agreement


def test_the_page_shows_balance_lots_and_history(billing_client, org):
    grant(org, "120.00", purchased_at=timezone.now() - timedelta(days=350))
    grant(org, "30.00")
    funds_debit(
        account=account_of(org),
        amount=Decimal("20.00"),
        reference="call-1",
        description="Call to +44",
    )
    page = billing_client.get(reverse("billing:credits"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "130.00 USD" in html  # balance
    assert "100.00 USD" in html  # what the old lot has left
    assert "expires in" in html  # it expires within 30 days
    assert "Call to +44" in html
    assert 'href="/billing/credits/add/"' in html


def test_history_filters_by_kind_and_paginates(billing_client, org):
    grant(org, "100")
    for n in range(30):
        funds_debit(
            account=account_of(org), amount=Decimal("1"), reference=f"c{n}", description=f"call {n}"
        )
    usage = billing_client.get(reverse("billing:credits"), {"kind": "usage"})
    assert len(usage.context["entries"]) == 25 and usage.context["entries"].next_cursor
    assert all(e.kind == "usage" for e in usage.context["entries"])
    second = billing_client.get(
        reverse("billing:credits"),
        {"kind": "usage", "cursor": usage.context["entries"].next_cursor},
    )
    assert len(second.context["entries"]) == 5
    adjustments = billing_client.get(reverse("billing:credits"), {"kind": "adjustment"})
    assert [e.kind for e in adjustments.context["entries"]] == ["adjustment"]
    nonsense = billing_client.get(reverse("billing:credits"), {"kind": "bogus", "cursor": "x"})
    assert nonsense.status_code == 200


def test_a_debt_payment_is_one_line_in_the_history(billing_client, org):
    """A recharge that pays 12.00 of debt posts two usage rows; the history shows one line."""
    from billing.services.recharge import recharge_run
    from billing.services.recharge_settings import auto_recharge_configure
    from tests.billing.recharge_helpers import save_card

    save_card(org)
    funds_debit(account=account_of(org), amount=Decimal("12.00"), reference="call-1")
    account = auto_recharge_configure(
        account=account_of(org), enabled=True, trigger_amount="20", recharge_amount="50"
    )
    recharge_run(account_id=account.pk)  # 50 + 32 short of the trigger: 82.00, 12.00 to the debt
    assert LedgerEntry.objects.filter(kind="usage").count() == 3  # the ledger rows stay
    page = billing_client.get(reverse("billing:credits"))
    html = page.content.decode()
    assert html.count("Debt of 12.00 USD paid from this purchase") == 1
    assert "Earlier usage paid from this lot" not in html and "Debt paid" not in html
    lines = list(page.context["entries"])
    assert [(e.kind, e.amount) for e in lines] == [
        ("usage", Decimal("-12.00")),  # the debt payment, shown as one line
        ("recharge", Decimal("82.00")),
        ("usage", Decimal("-12.00")),  # the call that made the debt
    ]
    assert lines[0].shown_balance_after == Decimal("70.00") == account_of(org).balance
    api = billing_client.get(
        "/api/v1/ledger", HTTP_AUTHORIZATION=f"Bearer {make_api_key(org)}"
    ).json()
    assert [e["amount"] for e in api["entries"]] == ["12.00", "-12.00", "82.00", "-12.00"]


def test_new_commerce_sees_why_and_no_purchase_form(client, db):
    newco = make_org("newco", commerce="new")
    client.force_login(make_member(newco, Role.BILLING))
    page = client.get(reverse("billing:credits"))
    assert b"cannot buy Communications Credits" in page.content
    assert b"/billing/credits/add/" not in page.content
    assert client.get(reverse("billing:add_funds")).status_code == 302
    response = client.post(reverse("billing:add_funds"), {"amount": "50", "method": "card"})
    assert response.status_code == 302 and not Payment.objects.exists()


def test_a_reports_reader_cannot_add_funds(client_as, org):
    reader = client_as(Role.REPORTS)
    assert reader.get(reverse("billing:add_funds")).status_code == 403
    assert (
        reader.post(reverse("billing:add_funds"), {"amount": "50", "method": "card"}).status_code
        == 403
    )
    assert not Payment.objects.exists()


def _form(billing_client, **data):
    page = billing_client.get(reverse("billing:add_funds"))
    token = page.context["form"]["form_token"].value()
    return {"form_token": token, **data}


def test_add_funds_by_agreement_asks_then_adds_once_with_a_due_invoice(
    billing_client, org, agreement
):
    data = _form(
        billing_client, amount="500.00", method=str(agreement.code), po_number="PO-2026-118"
    )
    confirm = billing_client.post(reverse("billing:add_funds"), data)
    assert confirm.status_code == 200
    assert b"Add 500.00 USD on Enterprise Agreement EA-7654321" in confirm.content
    assert not FundLot.objects.exists(), "nothing moves before the confirmation"
    done = billing_client.post(reverse("billing:add_funds_agreement"), data)
    again = billing_client.post(reverse("billing:add_funds_agreement"), data)  # a double submit
    assert done.status_code == again.status_code == 302
    lot = FundLot.objects.get()
    assert (lot.source, lot.amount) == ("agreement", Decimal("500"))
    invoice = lot.invoice
    assert (invoice.status, invoice.po_number, invoice.agreement) == (
        "due",
        "PO-2026-118",
        agreement,
    )
    assert invoice.due_date == (invoice.issued_at + timedelta(days=45)).date()
    assert account_of(org).balance == Decimal("500")
    assert LedgerEntry.objects.get().actor.startswith("billing-")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"amount": ""}, "amount", "required"),
        ({"amount": "abc"}, "amount", "amount such as"),
        ({"amount": "0"}, "amount", "more than zero"),
        ({"amount": "-5"}, "amount", "more than zero"),
        ({"amount": "5"}, "amount", "smallest purchase is 10.00 USD"),
        ({"amount": "10000.01"}, "amount", "largest purchase is 10,000.00 USD"),
        ({"amount": "1e9"}, "amount", "amount such as"),
        ({"amount": "1,250.00", "method": "nope"}, "method", "valid choice"),
        ({"amount": "12.345"}, "amount", "at most 2 decimals"),
        ({"amount": "50", "method": "nope"}, "method", "valid choice"),
        ({"amount": "50", "po_number": "PO!<script>"}, "po_number", "at most 50 letters"),
        ({"amount": "50", "po_number": "PO-1"}, "po_number", "goes with an Enterprise Agreement"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(billing_client, org, data, field, message):
    response = billing_client.post(
        reverse("billing:add_funds"), _form(billing_client, **{"method": "card", **data})
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field]), errors
    assert not Payment.objects.exists() and not FundLot.objects.exists()


def test_another_organisations_agreement_cannot_pay(billing_client, org, other_org):
    theirs, _ = agreement_register(
        account=account_of(other_org), number="EA-THEIRS", credit_limit="1000"
    )
    data = _form(billing_client, amount="50", method=str(theirs.code))
    assert (
        "method" in billing_client.post(reverse("billing:add_funds"), data).context["form"].errors
    )
    assert billing_client.post(reverse("billing:add_funds_agreement"), data).status_code == 200
    assert not FundLot.objects.exists() and not Invoice.objects.exists()


def test_a_removed_agreement_cannot_pay(billing_client, org, agreement):
    data = _form(billing_client, amount="50", method=str(agreement.code))
    billing_client.post(reverse("billing:agreement_remove", args=[agreement.code]))
    assert billing_client.post(reverse("billing:add_funds_agreement"), data).status_code == 200
    assert not FundLot.objects.exists()


def test_an_agreement_at_its_credit_limit_refuses_the_next_purchase(billing_client, org):
    agreement, _ = agreement_register(
        account=account_of(org), number="EA-7654321", credit_limit="600"
    )
    data = _form(billing_client, amount="500.00", method=str(agreement.code))
    assert billing_client.post(reverse("billing:add_funds_agreement"), data).status_code == 302
    data = _form(billing_client, amount="200.00", method=str(agreement.code))
    refused = billing_client.post(reverse("billing:add_funds_agreement"), data)
    assert refused.status_code == 200
    assert "credit limit" in " ".join(refused.context["form"].errors["amount"])
    assert account_of(org).balance == Decimal("500") and Invoice.objects.count() == 1
