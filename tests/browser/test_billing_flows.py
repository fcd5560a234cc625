"""Billing flows in a real browser: paying with an Enterprise Agreement, and auto-recharge
run by a real Celery worker after usage comes in through the platform API."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Invoice, RechargeAttempt
from billing.services.agreements import agreement_register
from credits_portal.celery import app as celery_app
from credits_portal.permissions import Role
from tests.browser.conftest import enter_card, sign_in
from tests.builders import PASSWORD, account_of, grant, make_api_key, make_member
from tests.processes import celery_worker, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_add_funds_with_an_enterprise_agreement_and_a_po_number(page, look, org):
    sign_in(page, make_member(org, Role.BILLING).email, PASSWORD)

    page.goto("/billing/payment-methods/")
    page.click("text=Request an agreement")
    page.fill("#id_number", "EA-7731-2026")
    page.fill("#id_name", "EMEA 2026")
    page.fill("#id_payment_terms_days", "45")
    look("agreement-form")
    page.click("main button[type=submit]")
    assert "Enterprise Agreement EA-7731-2026 (EMEA 2026) is requested." in (
        page.inner_text(".messages")
    )
    assert "waiting for approval" in page.inner_text("main table")
    # The operator registers it with a credit limit; only then can it pay.
    agreement_register(account=account_of(org), number="EA-7731-2026", credit_limit="5000")
    page.reload()
    assert "Active" in page.inner_text("main table")
    look("payment-methods")

    page.goto("/billing/credits/")
    page.click("text=Add funds")
    page.fill("#id_amount", "1250.00")
    page.get_by_label("Enterprise Agreement EA-7731-2026 (EMEA 2026)").check()
    page.fill("#id_po_number", "PO-88213")
    page.click("main button[type=submit]")
    # The confirmation step: nothing is added until the admin confirms.
    assert (
        page.inner_text("h1")
        == "Add 1,250.00 USD on Enterprise Agreement EA-7731-2026 (EMEA 2026)?"
    )
    assert "Invoice due in 45 days, for purchase order PO-88213" in page.inner_text("main")
    assert account_of(org).balance == Decimal("0.00")
    look("agreement-confirm")
    page.click("main button:has-text('Add 1,250.00 USD')")

    due = (timezone.now() + timedelta(days=45)).date()
    message = page.inner_text(".messages")
    assert "1,250.00 USD added on Enterprise Agreement EA-7731-2026" in message
    assert f"invoice CONTOSO-000001 is due {due:%Y-%m-%d}" in message
    assert page.inner_text("#bal-h + .figure") == "1,250.00 USD"
    look("credits-after-agreement")
    invoice = Invoice.objects.get()
    assert (invoice.status, invoice.po_number, invoice.total) == (
        "due",
        "PO-88213",
        Decimal("1250.00"),
    )
    assert account_of(org).balance == Decimal("1250.00")

    page.click("nav.side >> text=Invoices")
    row = page.locator("main tbody tr").filter(has_text="CONTOSO-000001")
    assert "PO PO-88213" in row.inner_text() and f"Due {due:%Y-%m-%d}" in row.inner_text()
    look("invoices")
    row.get_by_role("link", name="CONTOSO-000001", exact=True).click()
    details = page.inner_text("main dl")
    assert "EA-7731-2026" in details and "PO-88213" in details and "(45 days)" in details
    look("invoice-due")


@pytest.fixture
def real_worker_queue():
    """Tasks go through Redis to a worker process, as in production, for this test only."""
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = True
    # What the stopped worker left queued (the recharge's email) must not reach a later test's.
    celery_app.control.purge()


def test_auto_recharge_turned_on_in_the_portal_runs_in_a_worker_after_api_usage(
    page, look, org, caller, real_worker_queue, smtp_sink, settings, monkeypatch
):
    # The worker mails through the same local SMTP sink as this process.
    monkeypatch.setenv("EMAIL_URL", f"smtp://{settings.EMAIL_HOST}:{settings.EMAIL_PORT}")
    grant(org, "25.00")
    platform_key = make_api_key(org, "platform")
    admin = make_member(org, Role.BILLING)
    sign_in(page, admin.email, PASSWORD)

    page.goto("/billing/payment-methods/")
    page.click("text=Add a card")
    enter_card(page, "4242424242424242")
    look("card-form")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=is now the saved card")
    assert "Visa •••• 4242" in page.inner_text("main")

    page.goto("/billing/credits/")
    page.check("#id_enabled")
    page.fill("#id_trigger_amount", "20.00")
    page.fill("#id_recharge_amount", "50.00")
    page.click("text=Save auto-recharge")
    assert "Auto-recharge is on." in page.inner_text(".messages")
    assert "when the balance falls below 20.00 USD, 50.00 USD is added" in page.inner_text("main")
    assert "No recharges yet." in page.inner_text("main")

    with celery_worker("--pool", "solo"):
        # 100 minutes to Japan at 0.0600 a minute: 25.00 - 6.00 = 19.00, below the trigger.
        response = page.request.post(
            "/api/v1/usage/records",
            headers={"Authorization": f"Bearer {platform_key}"},
            data={
                "records": [
                    {
                        "id": "call-jp-1",
                        "kind": "call",
                        "type": "outbound",
                        "user": caller.upn,
                        "from": "+14255550100",
                        "to": "+81312345678",
                        "started_at": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "duration_seconds": 6000,
                    }
                ]
            },
        )
        assert response.status == 200, response.text()
        (result,) = response.json()["results"]
        assert (result["status"], result["charge"], result["funded_by"]) == (
            "rated",
            "6.00",
            "credits",
        )
        recharges = page.locator("table[aria-labelledby=rh-h] tbody tr")
        for _ in range(40):
            page.reload()
            if "Succeeded" in recharges.first.inner_text():
                break
            page.wait_for_timeout(250)
        assert "Succeeded" in recharges.first.inner_text()
        assert wait_until(lambda: smtp_sink, timeout=20), "the worker sends the email next"
    (email,) = smtp_sink
    assert email["Subject"] == "Auto-recharge of 51.00 USD succeeded"
    assert email.envelope_rcpt_tos == [admin.email], "no billing contacts: the billing admins"

    # 50.00 plus the 1.00 the balance lacked of the trigger.
    assert "51.00 USD" in recharges.first.inner_text()
    assert page.inner_text("#bal-h + .figure") == "70.00 USD"
    history = page.locator("table[aria-labelledby=ledger-h] tbody tr")
    assert "Auto-recharge of 51.00 USD" in history.first.inner_text()
    assert "-6.00 USD" in history.nth(1).inner_text()
    look("credits-recharged")
    attempt = RechargeAttempt.objects.get()
    assert attempt.status == "succeeded" and attempt.lot.invoice is not None
    assert account_of(org).balance == Decimal("70.00")
