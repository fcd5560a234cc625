"""Flows as a person does them, in a real browser, against the live server and localstripe."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from axes.models import AccessAttempt
from django.utils import timezone

from billing.models import Invoice, LedgerEntry, Payment
from billing.services.agreements import agreement_register
from credits_portal.permissions import Role
from tests.browser.conftest import enter_card, sign_in
from tests.builders import PASSWORD, account_of, grant, make_member

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_in_and_a_wrong_password(page, look, org):
    user = make_member(org, Role.GLOBAL)
    sign_in(page, user.email, "not-the-password")
    assert "correct email and password" in page.inner_text("main")
    look("login-error")
    sign_in(page, user.email, PASSWORD)
    assert page.inner_text("h1") == "Contoso Ltd"
    look("home")


def test_add_funds_by_card_then_a_declined_card_changes_nothing(page, look, org):
    sign_in(page, make_member(org, Role.BILLING).email, PASSWORD)
    page.goto("/billing/credits/")
    look("credits-empty")
    page.click("text=Add funds")
    look("add-funds")
    page.fill("#id_amount", "42.00")
    page.click("main button[type=submit]")
    enter_card(page, "4242424242424242")
    look("card-payment")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Paid.")
    look("paid")
    assert account_of(org).balance == Decimal("42.00")
    page.click("text=Invoice CONTOSO-000001")
    assert "Paid by Visa" in page.inner_text("main")
    look("invoice-paid")

    page.goto("/billing/credits/add/")
    page.fill("#id_amount", "10.00")
    page.click("main button[type=submit]")
    page.click("text=Use another card")
    enter_card(page, "4000000000000002")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Your card was declined")
    look("card-declined")
    assert account_of(org).balance == Decimal("42.00")


def test_repeated_wrong_passwords_lock_the_sign_in_even_for_the_right_one(
    page, look, org, settings
):
    user = make_member(org, Role.GLOBAL)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(page, user.email, "not-the-password")
        assert "correct email and password" in page.inner_text("main")
    sign_in(page, user.email, "not-the-password")
    assert "Too many failed sign-in attempts" in page.inner_text("h1")
    page.goto("/login/")
    sign_in(page, user.email, PASSWORD)
    assert "Too many failed sign-in attempts" in page.inner_text("h1")
    assert "locked" in page.inner_text("[role=alert]")
    look("locked-out")
    assert page.goto("/billing/credits/").url.endswith("/login/?next=/billing/credits/")
    attempt = AccessAttempt.objects.get(username=user.email)
    assert attempt.failures_since_start >= settings.AXES_FAILURE_LIMIT


def test_a_reports_reader_sees_no_add_funds_and_cannot_post_to_it(page, look, org):
    agreement, _ = agreement_register(
        account=account_of(org), number="EA-4410", credit_limit="1000"
    )
    sign_in(page, make_member(org, Role.REPORTS).email, PASSWORD)
    response = page.goto("/billing/credits/add/")
    assert response.status == 403
    assert "Not allowed" in page.inner_text("h1")
    look("not-allowed")
    page.goto("/reports/usage/")
    assert "PSTN and SMS usage" in page.inner_text("h1")
    assert page.locator("text=Add funds").count() == 0
    look("report-reader")

    # What a hand-made form would send, with this session's valid CSRF token.
    token = page.input_value("input[name=csrfmiddlewaretoken] >> nth=0")
    fields = {"csrfmiddlewaretoken": token, "amount": "500.00", "form_token": str(uuid.uuid4())}
    for url, method in [
        ("/billing/credits/add/", "card"),
        ("/billing/credits/add/agreement/", str(agreement.code)),
    ]:
        refused = page.request.post(url, form={**fields, "method": method})
        assert refused.status == 403, url
        assert "Not allowed" in refused.text() and "CSRF" not in refused.text()
    account = account_of(org)
    assert account.balance == Decimal("0.00")
    assert not Payment.objects.exists() and not LedgerEntry.objects.exists()
    assert not Invoice.objects.exists()


@pytest.fixture
def busy_org(org, caller):
    """An organisation with something on every page: funds, usage, a contact, an audit trail."""
    from billing.services.contacts import billing_contact_add
    from usage.services.ingest import usage_ingest

    grant(org, "30.00")
    billing_contact_add(organisation=org, email="ap@contoso.example")
    now = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    base = {"user": caller.upn, "from": "+14255550100", "started_at": now}
    results = usage_ingest(
        organisation=org,
        records=[
            {
                **base,
                "id": "c1",
                "kind": "call",
                "type": "outbound",
                "to": "+441612345678",
                "duration_seconds": 90,
            },
            {**base, "id": "s1", "kind": "sms", "type": "sms", "to": "+441612345678"},
        ],
    )
    assert all(r.status == "rated" for r in results)
    return org


def test_the_pages_no_flow_visits_pass_axe_too(page, axe_problems, busy_org):
    """Every page of the navigation that the flows above do not open, with data on it."""
    page.goto("/login/")
    problems = [axe_problems("login")]
    sign_in(page, make_member(busy_org, Role.GLOBAL).email, PASSWORD)
    for path, name in [
        ("/billing/statements/", "statements"),
        ("/settings/audit-log/", "audit-log"),
        ("/settings/billing-contacts/", "billing-contacts"),
        ("/settings/billing-contacts/new/", "billing-contact-form"),
        ("/reports/usage/?tab=sms", "usage-report-sms"),
        ("/users/import/", "users-import"),
        ("/password/change/", "password-change"),
    ]:
        assert page.goto(path).status == 200, path
        problems.append(axe_problems(name))
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)
