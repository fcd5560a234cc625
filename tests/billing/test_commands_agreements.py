"""`add_agreement`, `mark_invoice_paid`, and `grant_funds --enterprise-agreement` within a limit."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from billing.models import EnterpriseAgreement, FundLot, Invoice
from billing.services.agreements import agreement_request, agreement_unpaid
from credits_portal.models import AuditEvent
from tests.builders import account_of, make_org
from tests.processes import ROOT, database_url_for_tests

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_add_agreement_registers_then_updates(org):
    out = run("add_agreement", "contoso", "EA-4500123", "--credit-limit", "50000")
    agreement = EnterpriseAgreement.objects.get()
    assert (agreement.status, agreement.credit_limit, agreement.payment_terms_days) == (
        "active",
        Decimal("50000"),
        30,
    )
    assert "registered, credit limit 50,000.00 USD, payment terms 30 days" in out
    out = run(
        "add_agreement", "contoso", "EA-4500123", "--credit-limit", "75000", "--terms-days", "60"
    )
    agreement.refresh_from_db()
    assert (agreement.credit_limit, agreement.payment_terms_days) == (Decimal("75000"), 60)
    assert "updated" in out and EnterpriseAgreement.objects.count() == 1
    assert AuditEvent.objects.filter(action="agreement.updated").exists()


def test_add_agreement_approves_the_admins_request(org):
    request = agreement_request(account=account_of(org), number="EA-777", payment_terms_days=90)
    out = run("add_agreement", "contoso", "EA-777", "--credit-limit", "1000")
    request.refresh_from_db()
    assert "approved" in out and (request.status, request.payment_terms_days) == ("active", 90)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere", "EA-4500123", "--credit-limit", "10"], "No organisation"),
        (["contoso", "EA-4500123"], "--credit-limit is required"),
        (["contoso", "EA-4500123", "--credit-limit", "ten"], "amount such as"),
        (["contoso", "EA-4500123", "--credit-limit", "0"], "more than zero"),
        (["contoso", "EA-4500123", "--credit-limit", "-5"], "more than zero"),
        (["contoso", "EA-4500123", "--credit-limit", "1.001"], "decimals"),
        (["contoso", "EA-4500123", "--credit-limit", "1" * 40], "too large"),
        (["contoso", "EA-4500123", "--credit-limit", "123456789012345"], "too large"),
        (["contoso", "EA-4500123", "--credit-limit", "10", "--terms-days", "121"], "0 to 120"),
        (["contoso", "EA-4500123", "--credit-limit", "10", "--terms-days", "x"], "0 to 120"),
        (["contoso", "EA-4500123", "--credit-limit", "10", "--terms-days", "-1"], "0 to 120"),
        (["contoso", "x", "--credit-limit", "10"], "agreement number"),
    ],
)
def test_add_agreement_refuses_bad_input_and_changes_nothing(org, args, message):
    with pytest.raises(CommandError, match=message):
        run("add_agreement", *args)
    assert not EnterpriseAgreement.objects.exists()


def test_add_agreement_is_refused_for_new_commerce(db):
    make_org("modern", commerce="new")
    with pytest.raises(CommandError, match="New-commerce"):
        run("add_agreement", "modern", "EA-4500123", "--credit-limit", "10")
    assert not EnterpriseAgreement.objects.exists()


def test_a_refusal_is_one_line_on_stderr_and_a_non_zero_exit(db):
    # As an operator runs it: a real process, on the test database (whose rows it cannot see).
    result = subprocess.run(
        [sys.executable, "manage.py", "add_agreement", "nowhere", "EA-100", "--credit-limit", "5"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url_for_tests()},
        check=False,
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "No organisation" in result.stderr


def test_grant_funds_on_an_agreement_obeys_its_credit_limit(org):
    run("add_agreement", "contoso", "EA-1234", "--credit-limit", "1000")
    run("grant_funds", "contoso", "800", "--enterprise-agreement", "EA-1234")
    with pytest.raises(CommandError, match="credit limit"):
        run("grant_funds", "contoso", "300", "--enterprise-agreement", "EA-1234")
    assert FundLot.objects.count() == 1 and account_of(org).balance == Decimal("800")


def test_grant_funds_refuses_a_requested_agreement(org):
    agreement_request(account=account_of(org), number="EA-1234")
    with pytest.raises(CommandError, match="no registered agreement"):
        run("grant_funds", "contoso", "300", "--enterprise-agreement", "EA-1234")
    assert not FundLot.objects.exists()


def test_mark_invoice_paid_frees_the_limit_and_is_idempotent(org):
    run("add_agreement", "contoso", "EA-1234", "--credit-limit", "1000")
    run("grant_funds", "contoso", "1000", "--enterprise-agreement", "EA-1234")
    with pytest.raises(CommandError, match="credit limit"):
        run("grant_funds", "contoso", "10", "--enterprise-agreement", "EA-1234")
    invoice = Invoice.objects.get()
    assert invoice.display_number == "CONTOSO-000001"
    assert run("mark_invoice_paid", "CONTOSO-000001").strip() == "CONTOSO-000001 is paid."
    assert run("mark_invoice_paid", "contoso-000001").strip() == "CONTOSO-000001 was already paid."
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.paid_at is not None
    assert agreement_unpaid(invoice.agreement) == 0
    run("grant_funds", "contoso", "10", "--enterprise-agreement", "EA-1234")
    assert account_of(org).balance == Decimal("1010")
    assert AuditEvent.objects.filter(action="invoice.paid").count() == 1


@pytest.mark.parametrize("number", ["CONTOSO-000009", "NOWHERE-000001", "CONTOSO", "", "12", "A-x"])
def test_mark_invoice_paid_refuses_unknown_numbers(org, number):
    with pytest.raises(CommandError, match="No invoice"):
        run("mark_invoice_paid", number)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add_agreement", "cont\x00oso", "EA-4500123", "--credit-limit", "10"], "No organisation"),
        (["add_agreement", "\ud800", "EA-4500123", "--credit-limit", "10"], "No organisation"),
        (
            ["add_agreement", "contoso", "EA-4500123", "--credit-limit", "10", "--name", "a\x00"],
            "name",
        ),
        (
            ["add_agreement", "contoso", "EA-4500123", "--credit-limit", "10", "--name", "\ud800"],
            "name",
        ),
        (["add_agreement", "contoso", "EA-4500\x00", "--credit-limit", "10"], "agreement number"),
        (["mark_invoice_paid", "CONTOSO-" + "9" * 5000], "No invoice"),
        (["mark_invoice_paid", "CON\x00TOSO-000001"], "No invoice"),
        (["mark_invoice_paid", "\ud800-000001"], "No invoice"),
        (["mark_invoice_paid", "x" * 10_000], "No invoice"),
        (["grant_funds", "contoso", "50", "--enterprise-agreement", "EA\x00"], "no registered"),
        (["grant_funds", "contoso", "50", "--enterprise-agreement", "EA\ud800"], "no registered"),
        (["grant_funds", "contoso", "50", "--purchased-at", "2026-13-45T00:00:00"], "ISO 8601"),
        (["grant_funds", "contoso", "50", "--reference", "r\x00"], "reference"),
        (["grant_funds", "contoso", "50", "--reference", "r" * 10_000], "reference"),
        (["grant_funds", "contoso", "1" * 40], "too large"),
    ],
)
def test_hostile_arguments_are_a_command_error_and_change_nothing(org, args, message):
    # NUL and lone surrogates never reach PostgreSQL; no traceback, one line and exit 1.
    run("add_agreement", "contoso", "EA-1234", "--credit-limit", "1000")
    run("grant_funds", "contoso", "100", "--enterprise-agreement", "EA-1234")
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert EnterpriseAgreement.objects.count() == FundLot.objects.count() == 1
    assert Invoice.objects.get().status == "due"
    assert account_of(org).balance == Decimal("100")
