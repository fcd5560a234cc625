"""New commerce made visible (issue 17, item 3): Home and the Credits page show this month's
overage and its forecast, overage invoices are in Invoices and the statement, and no credit-only
control (add funds, auto-recharge, agreements) is offered anywhere."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import Invoice
from credits_portal.permissions import Role
from tests.builders import licensed_user, make_member
from usage.services.ingest import usage_ingest
from usage.services.overage import closed_before, overage_invoice_organisation, overage_this_month

CREDIT_CONTROLS = [
    "billing:add_funds",
    "billing:auto_recharge",
    "billing:recharge_method",
    "billing:agreement_new",
]


def _call(record_id: str, started_at: datetime, seconds: int) -> dict:
    return {
        "id": record_id,
        "kind": "call",
        "type": "outbound",
        "user": "nia@newco.example",
        "from": "+14255550100",
        "to": "+441612345678",
        "started_at": started_at.isoformat().replace("+00:00", "Z"),
        "duration_seconds": seconds,
    }


@pytest.fixture
def overage(nia):
    """Overage this month (10 min x 0.023 = 0.23) and early in the month before (20 min = 0.46)."""
    licensed_user(nia, "ola@newco.example", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")  # a pool
    now = timezone.now()
    this_month = closed_before(now)
    earlier = closed_before(this_month - timedelta(days=1)) + timedelta(hours=1)
    started = max(this_month, now - timedelta(minutes=30))
    usage_ingest(
        organisation=nia,
        records=[_call("now-1", started, 600), _call("before-1", earlier, 1200)],
        max_age=timedelta(days=40),
    )
    return nia


@pytest.fixture
def admin(client, overage):
    client.force_login(make_member(overage, Role.GLOBAL))
    return client


def test_this_months_overage_and_forecast(overage):
    now = timezone.now()
    found = overage_this_month(overage, now=now)
    assert found.accrued == Decimal("0.23") and found.records == 1
    assert found.forecast >= found.accrued
    # Halfway through last month, its 20 minutes accrued, the forecast was twice that.
    start = closed_before(closed_before(now) - timedelta(days=1))
    half = start + (closed_before(now) - start) / 2
    then = overage_this_month(overage, now=half)
    assert (then.accrued, then.forecast) == (Decimal("0.46"), Decimal("0.92"))


@pytest.mark.parametrize("page", ["home", "billing:credits"])
def test_home_and_credits_show_the_overage(admin, page):
    html = admin.get(reverse(page)).content.decode()
    assert "Overage, " in html and "Accrued so far" in html and "0.23" in html
    assert "Forecast for the month" in html
    assert "Minutes beyond them are charged as overage" in html
    assert "paid from Communications Credits" not in html
    assert "paid from credits" not in html


@pytest.mark.parametrize(
    "page", ["home", "billing:credits", "billing:payment_methods", "billing:statement"]
)
def test_no_credit_controls_anywhere(admin, page):
    html = admin.get(reverse(page)).content.decode()
    for control in CREDIT_CONTROLS:
        assert f'"{reverse(control)}"' not in html, control
    assert "Auto-recharge" not in html


def test_overage_invoices_in_invoices_and_the_statement(admin, overage):
    record = overage_invoice_organisation(
        organisation=overage, before=closed_before(timezone.now())
    )
    invoice = record.invoice
    assert invoice.kind == Invoice.Kind.OVERAGE and invoice.total == Decimal("0.46")
    listing = admin.get(reverse("billing:invoices")).content.decode()
    assert invoice.display_number in listing
    month = invoice.issued_at.strftime("%Y-%m")
    statement = admin.get(reverse("billing:statement"), {"month": month}).content.decode()
    assert invoice.display_number in statement and "Overage invoiced" in statement
    csv = admin.get(reverse("billing:statement"), {"month": month, "format": "csv"})
    assert f"Invoice {invoice.display_number} (Overage),0.46,USD" in csv.content.decode()
    # The card on Home names the last overage invoice.
    assert invoice.display_number in admin.get(reverse("home")).content.decode()


def test_legacy_commerce_shows_no_overage_card(client_as, org):
    for page in ["home", "billing:credits"]:
        html = client_as(Role.GLOBAL).get(reverse(page)).content.decode()
        assert "Accrued so far" not in html


def test_the_role_card_words_billing_as_new_commerce_bills_it(client, overage, org):
    """A billing admin of a new-commerce organisation adds no funds and sets no auto-recharge."""
    client.force_login(make_member(overage, Role.BILLING))
    html = client.get(reverse("home")).content.decode()
    assert "Buy and release seats, payment methods, billing contacts" in html
    assert "See products, invoices and this month&#x27;s overage" in html
    assert "Add funds" not in html and "auto-recharge" not in html.lower()
    client.force_login(make_member(org, Role.BILLING))  # legacy: the credits' words
    html = client.get(reverse("home")).content.decode()
    assert "Add funds, auto-recharge, payment methods, billing contacts" in html
