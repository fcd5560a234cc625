"""Enterprise Agreements: requested by admins, registered by operators, held to a credit limit."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from django.core import mail

from billing.exceptions import AgreementNotRegistered, BillingError, CreditLimitExceeded
from billing.models import CreditAccount, EnterpriseAgreement, FundLot, Invoice, RechargeAttempt
from billing.services.agreements import (
    agreement_approve,
    agreement_register,
    agreement_request,
    agreement_unpaid,
)
from billing.services.contacts import billing_contact_add
from billing.services.invoices import invoice_issue, invoice_mark_paid
from billing.services.ledger import lock_account
from billing.services.purchases import agreement_purchase
from billing.services.recharge import recharge_run
from billing.services.recharge_settings import auto_recharge_configure, recharge_method_set
from billing.services.verify import ledger_verify
from tests.billing.recharge_helpers import spend
from tests.builders import account_of, make_org
from tests.processes import at_once

D = Decimal


def buy(org, agreement, amount: str) -> FundLot:
    return agreement_purchase(
        account=account_of(org),
        agreement=agreement,
        amount=D(amount),
        reference=f"test:{uuid.uuid4()}",
    )


def register(org, number: str = "EA-4500123", limit: str = "10000", **kwargs):
    agreement, _ = agreement_register(
        account=account_of(org), number=number, credit_limit=limit, **kwargs
    )
    return agreement


@pytest.mark.django_db
def test_a_requested_agreement_pays_for_nothing_until_an_operator_approves_it(org):
    account = account_of(org)
    request = agreement_request(account=account, number="FAKE-0001", payment_terms_days=120)
    assert (request.status, request.credit_limit) == ("requested", None)
    for _ in range(3):
        with pytest.raises(AgreementNotRegistered):
            buy(org, request, "10000")
    with pytest.raises(AgreementNotRegistered):
        recharge_method_set(account=account, agreement=request)
    assert account_of(org).balance == 0 and not Invoice.objects.exists()
    with pytest.raises(BillingError, match="credit limit"):
        agreement_approve(agreement=request)

    # The operator approves it with a limit; its requested terms stay unless changed.
    approved, outcome = agreement_register(account=account, number="FAKE-0001", credit_limit="500")
    assert outcome == "approved" and approved.pk == request.pk
    assert (approved.status, approved.credit_limit, approved.payment_terms_days) == (
        "active",
        D("500"),
        120,
    )
    assert buy(org, approved, "500").invoice.status == "due"
    assert account_of(org).balance == D("500")


@pytest.mark.django_db
def test_registering_again_updates_the_limit_and_terms(org):
    first = register(org, limit="1000", payment_terms_days=45)
    again, outcome = agreement_register(
        account=account_of(org), number="EA-4500123", credit_limit="2500.50"
    )
    assert outcome == "updated" and again.pk == first.pk
    assert (again.credit_limit, again.payment_terms_days) == (D("2500.50"), 45)
    assert EnterpriseAgreement.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"credit_limit": "0"}, "credit_limit"),
        ({"credit_limit": "-5"}, "credit_limit"),
        ({"credit_limit": "ten"}, "credit_limit"),
        ({"credit_limit": "1.001"}, "credit_limit"),
        ({"credit_limit": "100", "payment_terms_days": 121}, "payment_terms_days"),
        ({"credit_limit": "100", "payment_terms_days": -1}, "payment_terms_days"),
        ({"credit_limit": "100", "number": "x"}, "number"),
    ],
)
def test_bad_registrations_are_refused(org, kwargs, field):
    with pytest.raises(BillingError) as refused:
        agreement_register(account=account_of(org), **{"number": "EA-4500123", **kwargs})
    assert refused.value.field == field
    assert not EnterpriseAgreement.objects.exists()


@pytest.mark.django_db
def test_new_commerce_organisations_get_no_agreements(db):
    modern = make_org("modern", commerce="new")
    with pytest.raises(BillingError, match="New-commerce"):
        agreement_register(account=account_of(modern), number="EA-4500123", credit_limit="100")
    with pytest.raises(BillingError, match="New-commerce"):
        agreement_request(account=account_of(modern), number="EA-4500123")
    assert not EnterpriseAgreement.objects.exists()


@pytest.mark.django_db
def test_an_agreement_at_its_credit_limit_refuses_the_next_purchase_until_one_is_paid(org):
    agreement = register(org, limit="10000")
    first = buy(org, agreement, "6000")
    buy(org, agreement, "4000")  # exactly at the limit: allowed
    assert agreement_unpaid(agreement) == D("10000")
    with pytest.raises(CreditLimitExceeded, match=r"at most 0\.00 USD more"):
        buy(org, agreement, "10")
    assert account_of(org).balance == D("10000") and Invoice.objects.count() == 2
    assert ledger_verify() == []

    assert invoice_mark_paid(invoice=first.invoice) is True
    assert invoice_mark_paid(invoice=first.invoice) is False, "a second time changes nothing"
    paid = Invoice.objects.get(pk=first.invoice.pk)
    assert paid.status == "paid" and paid.paid_at is not None
    assert (paid.total, paid.due_date) == (first.invoice.total, first.invoice.due_date)
    assert agreement_unpaid(agreement) == D("4000")
    buy(org, agreement, "6000")
    with pytest.raises(CreditLimitExceeded):
        buy(org, agreement, "0.01")
    assert account_of(org).balance == D("16000")


@pytest.mark.django_db
def test_the_same_purchase_twice_is_one_purchase_even_at_the_limit(org):
    agreement = register(org, limit="100")
    lot = agreement_purchase(
        account=account_of(org), agreement=agreement, amount=D("100"), reference="form:1"
    )
    again = agreement_purchase(
        account=account_of(org), agreement=agreement, amount=D("100"), reference="form:1"
    )
    assert again.pk == lot.pk and account_of(org).balance == D("100")


@pytest.mark.django_db
def test_another_organisations_or_a_removed_agreement_cannot_pay(org, other_org):
    theirs = register(other_org, number="EA-THEIRS")
    with pytest.raises(AgreementNotRegistered):
        buy(org, theirs, "50")
    ours = register(org)
    EnterpriseAgreement.objects.filter(pk=ours.pk).update(removed_at="2026-01-01T00:00:00Z")
    with pytest.raises(AgreementNotRegistered):
        buy(org, ours, "50")
    assert not FundLot.objects.exists()


@pytest.mark.django_db
def test_only_due_invoices_become_paid(org):
    agreement = register(org)
    invoice = buy(org, agreement, "100").invoice
    Invoice.objects.filter(pk=invoice.pk).update(status="void", due_date=invoice.due_date)
    with pytest.raises(BillingError, match="void, not due"):
        invoice_mark_paid(invoice=invoice)
    assert Invoice.objects.get(pk=invoice.pk).paid_at is None


@pytest.mark.django_db
def test_a_recharge_on_an_agreement_at_its_limit_fails_hard_and_suspends(
    org, django_capture_on_commit_callbacks
):
    agreement = register(org, limit="150")
    billing_contact_add(organisation=org, email="ap@contoso.example")
    account = account_of(org)
    recharge_method_set(account=account, agreement=agreement)
    auto_recharge_configure(
        account=account_of(org), enabled=True, trigger_amount="20", recharge_amount="100"
    )
    first = recharge_run(account_id=account.pk)
    assert (first.status, first.amount, first.lot.invoice.kind) == (
        "succeeded",
        D("120"),
        "recharge",
    )
    spend(org, "110", "call-1")  # balance 10, under the trigger; 120 more would pass 150
    with django_capture_on_commit_callbacks(execute=True):
        second = recharge_run(account_id=account.pk)
    assert (second.status, second.failure_code, second.hard_decline) == (
        "failed",
        "credit_limit_exceeded",
        True,
    )
    assert "credit limit" in second.failure_message
    account = CreditAccount.objects.get(pk=account.pk)
    assert account.recharge_suspended_at is not None
    assert "reached its credit limit" in account.recharge_suspended_reason
    assert account.balance == D("10") and Invoice.objects.count() == 1
    subjects = " | ".join(m.subject for m in mail.outbox)
    assert "failed" in subjects.lower() and "suspended" in subjects.lower()
    bodies = " ".join(m.body for m in mail.outbox)
    assert "choose the agreement again" in bodies and "update the card" not in bodies.lower()

    # The invoice is paid, the admin chooses the agreement again: recharging resumes.
    invoice_mark_paid(invoice=first.lot.invoice)
    recharge_method_set(account=account, agreement=agreement)
    third = recharge_run(account_id=account.pk)
    assert (third.status, third.amount) == ("succeeded", D("110"))
    assert RechargeAttempt.objects.filter(status="succeeded").count() == 2


@pytest.mark.django_db
def test_a_requested_agreement_cannot_pay_recharges(org):
    agreement = register(org)
    account = account_of(org)
    recharge_method_set(account=account, agreement=agreement)
    auto_recharge_configure(
        account=account_of(org), enabled=True, trigger_amount="20", recharge_amount="100"
    )
    # Demoted to a request (as the migration leaves self-declared agreements): nothing is due.
    EnterpriseAgreement.objects.filter(pk=agreement.pk).update(status="requested", approved_at=None)
    assert recharge_run(account_id=account.pk) is None
    assert account_of(org).balance == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_purchases_never_pass_the_limit(org):
    agreement = register(org, limit="1000")
    errors = at_once(lambda i: buy(org, agreement, "300"), 6)
    assert len(errors) == 3 and all(isinstance(e, CreditLimitExceeded) for e in errors)
    assert agreement_unpaid(agreement) == D("900")
    assert account_of(org).balance == D("900")


@pytest.mark.django_db
def test_invoices_know_their_kind_and_period(org):
    agreement = register(org)
    assert buy(org, agreement, "100").invoice.kind == "purchase"
    with_period = _issue(org, period_start=date(2026, 10, 1), period_end=date(2026, 10, 31))
    assert (with_period.kind, with_period.period) == ("overage", "2026-10")
    late = _issue(org, period_start=date(2026, 8, 3), period_end=date(2026, 10, 31))
    assert late.period == "2026-08-03/2026-10-31"
    assert Invoice.objects.filter(period_start__isnull=True).get().period is None


def _issue(org, **period) -> Invoice:
    from django.db import transaction

    with transaction.atomic():
        return invoice_issue(
            account=lock_account(account_of(org)),
            total=D("12.34"),
            description="Overage",
            payment_description="Invoiced after use",
            due_days=30,
            kind=Invoice.Kind.OVERAGE,
            **period,
        )


def _gapless(org) -> list[int]:
    numbers = sorted(Invoice.objects.filter(account=account_of(org)).values_list("number", flat=1))
    assert numbers == list(range(1, len(numbers) + 1))
    return numbers


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_buyers_near_the_limit_never_pass_it(org):
    agreement = register(org, limit="1000")
    buy(org, agreement, "700")
    errors = at_once(lambda i: buy(org, agreement, "10"), 50)
    assert len(errors) == 20 and all(isinstance(e, CreditLimitExceeded) for e in errors)
    assert agreement_unpaid(agreement) == D("1000") and account_of(org).balance == D("1000")
    assert len(_gapless(org)) == 31
    assert ledger_verify() == []


@pytest.mark.django_db(transaction=True)
def test_purchases_recharges_and_paid_invoices_at_once_stay_within_the_limit(org):
    agreement = register(org, limit="1000")
    paid_later = [buy(org, agreement, "200").invoice for _ in range(3)]
    billing_contact_add(organisation=org, email="ap@contoso.example")
    recharge_method_set(account=account_of(org), agreement=agreement)
    auto_recharge_configure(
        account=account_of(org), enabled=True, trigger_amount="5000", recharge_amount="100"
    )
    account_id = account_of(org).pk

    def act(i: int) -> None:
        if i < 3:
            invoice_mark_paid(invoice=paid_later[i])
        elif i < 8:
            recharge_run(account_id=account_id)
        else:
            buy(org, agreement, "50")

    errors = at_once(act, 40)
    assert all(isinstance(e, CreditLimitExceeded) for e in errors), errors
    assert agreement_unpaid(agreement) <= D("1000")
    assert all(
        i.status == "paid" for i in Invoice.objects.filter(pk__in=[p.pk for p in paid_later])
    )
    lots = FundLot.objects.filter(account_id=account_id)
    assert account_of(org).balance == sum(lot.amount for lot in lots)
    assert len(_gapless(org)) == lots.count()
    assert ledger_verify() == []
