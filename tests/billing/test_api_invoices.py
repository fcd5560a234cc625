"""`GET /api/v1/invoices`: the organisation's invoices, newest first, with a cursor."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction

from billing.models import Invoice
from billing.services.agreements import agreement_register
from billing.services.invoices import invoice_issue, invoice_mark_paid
from billing.services.ledger import lock_account
from billing.services.purchases import agreement_purchase
from tests.builders import account_of, make_api_key

pytestmark = pytest.mark.django_db


def get(client, key, **params):
    return client.get("/api/v1/invoices", params, HTTP_AUTHORIZATION=f"Bearer {key}")


def buy(org, amount: str, po: str = ""):
    agreement = org.enterprise_agreements.filter(status="active").first()
    if agreement is None:
        agreement, _ = agreement_register(
            account=account_of(org), number=f"EA-{org.slug}", credit_limit="100000"
        )
    return agreement_purchase(
        account=account_of(org),
        agreement=agreement,
        amount=Decimal(amount),
        reference=f"t:{uuid.uuid4()}",
        po_number=po,
    ).invoice


def overage(org) -> Invoice:
    with transaction.atomic():
        return invoice_issue(
            account=lock_account(account_of(org)),
            total=Decimal("3.21"),
            description="Overage calls and messages, October 2026",
            payment_description="Invoiced after use",
            due_days=30,
            kind=Invoice.Kind.OVERAGE,
            period_start=date(2026, 10, 1),
            period_end=date(2026, 10, 31),
        )


def test_invoices_newest_first_with_a_cursor(client, org):
    key = make_api_key(org)
    first = buy(org, "100", po="PO-1")
    for amount in ("200", "300", "400"):
        buy(org, amount)
    invoice_mark_paid(invoice=first)
    overage(org)
    page = get(client, key, limit=3).json()
    assert [i["number"] for i in page["invoices"]] == [
        "CONTOSO-000005",
        "CONTOSO-000004",
        "CONTOSO-000003",
    ]
    newest = page["invoices"][0]
    assert (newest["kind"], newest["period"], newest["status"], newest["total"]) == (
        "overage",
        "2026-10",
        "due",
        "3.21",
    )
    rest = get(client, key, limit=3, cursor=page["next_cursor"]).json()
    assert [i["number"] for i in rest["invoices"]] == ["CONTOSO-000002", "CONTOSO-000001"]
    assert rest["next_cursor"] is None
    oldest = rest["invoices"][-1]
    assert oldest == {
        "number": "CONTOSO-000001",
        "kind": "purchase",
        "total": "100.00",
        "currency": "USD",
        "issued_at": oldest["issued_at"],
        "due_at": first.due_date.isoformat(),
        "status": "paid",
        "po": "PO-1",
        "period": None,
    }
    assert oldest["issued_at"].endswith("Z")


def test_only_the_keys_organisation_is_listed(client, org, other_org):
    buy(org, "100")
    buy(other_org, "50")
    mine = get(client, make_api_key(org)).json()["invoices"]
    theirs = get(client, make_api_key(other_org)).json()["invoices"]
    assert [i["number"] for i in mine] == ["CONTOSO-000001"]
    assert [(i["number"], i["currency"]) for i in theirs] == [("FABRIKAM-000001", "EUR")]
    # Another organisation's cursor pages nothing of theirs into ours.
    assert get(client, make_api_key(org), cursor="aW52Xzk5").json()["invoices"][0]["number"] == (
        "CONTOSO-000001"
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "!!!"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"limit": "1" * 40}, "limit"),
        ({"limit": "1e3"}, "limit"),
        # A cursor this API never gave: a number past any column, NUL, a lone surrogate's bytes.
        ({"cursor": "aW52Xzk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ=="}, "cursor"),
        ({"cursor": "aW52XwA="}, "cursor"),
        ({"cursor": "aW52X-2ggA=="}, "cursor"),
        ({"cursor": "x" * 10_000}, "cursor"),
    ],
)
def test_bad_parameters_are_422(client, org, params, field):
    response = get(client, make_api_key(org), **params)
    assert response.status_code == 422 and field in response.json()["errors"]


def test_a_platform_key_may_not_list_invoices(client, org):
    assert get(client, make_api_key(org, "platform")).status_code == 403
