from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from billing.services.ledger import funds_debit, funds_expire
from billing.services.statement import statement_for
from credits_portal.permissions import Role
from tests.builders import account_of, grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(org):
    with time_machine.travel(datetime(2026, 10, 10, tzinfo=UTC)):
        grant(org, "100", purchased_at=datetime(2025, 10, 20, tzinfo=UTC))  # expires 2026-10-20
        funds_debit(account=account_of(org), amount=Decimal("30"), reference="oct-call")
    with time_machine.travel(datetime(2026, 10, 25, tzinfo=UTC)):
        funds_expire()
    with time_machine.travel(datetime(2026, 11, 5, tzinfo=UTC)):
        grant(org, "50")
        funds_debit(account=account_of(org), amount=Decimal("12.5"), reference="nov-call")
    return org


def test_a_month_ties_out_to_the_ledger(history):
    october = statement_for(account_of(history), date(2026, 10, 1))
    assert dict(october.lines) == {
        "Opening balance": 0,
        "Purchases": 0,
        "Auto-recharges": 0,
        "Adjustments and grants": Decimal("100"),
        "Refunds": 0,
        "Usage": Decimal("-30"),
        "Expired": Decimal("-70"),
        "Closing balance": Decimal("0"),
    }
    november = statement_for(account_of(history), date(2026, 11, 1))
    assert (november.opening, november.closing) == (Decimal("0"), Decimal("37.5"))


def test_pdf_and_csv(client_as, history):
    client = client_as(Role.BILLING)
    page = client.get(reverse("billing:statement"), {"month": "2026-11"})
    assert b"Closing balance" in page.content and b"37.50 USD" in page.content
    pdf = client.get(reverse("billing:statement"), {"month": "2026-11", "format": "pdf"})
    assert pdf.content.startswith(b"%PDF")
    rows = list(
        csv.reader(
            io.StringIO(
                client.get(
                    reverse("billing:statement"), {"month": "2026-10", "format": "csv"}
                ).content.decode()
            )
        )
    )
    assert rows[0] == ["line", "amount", "currency"] and rows[-1] == [
        "Closing balance",
        "0.00",
        "USD",
    ]
    assert rows[7] == ["Expired", "-70.00", "USD"]
    assert client.get(reverse("billing:statement"), {"month": ""}).status_code == 200  # this month


# Finding 3 of issue 14: 9999-12 overflowed computing the next month; 20 digits overflowed `date`.
@pytest.mark.parametrize(
    "month", ["nonsense", "9999-12", "99999999999999999999-1", "2026-13", "1999-12", "2026-5-1"]
)
def test_a_month_outside_the_portal_is_refused_naming_the_field(client_as, org, month):
    response = client_as(Role.BILLING).get(reverse("billing:statement"), {"month": month})
    assert response.status_code == 400
    assert b"<strong>month</strong> must be a month like 2026-05" in response.content
