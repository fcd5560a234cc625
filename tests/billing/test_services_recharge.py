"""Auto-recharge: worked amounts, declines and back-off, the guard, and exactly-once recording."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from billing.exceptions import BillingError
from billing.models import FundLot, Invoice, RechargeAttempt
from billing.services import recharge
from billing.services.agreements import agreement_register
from billing.services.contacts import billing_contact_add
from billing.services.recharge import recharge_run, recharge_sweep
from billing.services.recharge_settings import auto_recharge_configure, recharge_method_set
from tests.billing.recharge_helpers import save_card, spend, turn_on
from tests.builders import account_of, grant, make_org
from tests.processes import at_once
from tests.stripe_helpers import (
    DECLINED_ON_CHARGE,
    NEEDS_AUTHENTICATION,
    intent_as_dict,
    intents_where,
    signed_event,
)

D = Decimal


def attempts(org):
    return list(RechargeAttempt.objects.filter(account__organisation=org).order_by("id"))


def charges_for(attempt) -> list:
    return intents_where(recharge=attempt.code)


@pytest.mark.django_db
def test_a_debit_below_the_trigger_recharges_once_closing_the_gap(
    org, django_capture_on_commit_callbacks
):
    turn_on(org)
    grant(org, "30.00")
    with django_capture_on_commit_callbacks(execute=True):
        spend(org, "25.00", "call-1")  # balance 5.00, under the 20.00 trigger
    (attempt,) = attempts(org)
    # 50.00 plus the 15.00 the balance lacks of the trigger: one charge, balance 70.00.
    assert (attempt.status, attempt.amount, attempt.balance_before) == (
        "succeeded",
        D("65"),
        D("5"),
    )
    assert account_of(org).balance == D("70.00")
    assert attempt.lot.source == "recharge" and attempt.lot.invoice.status == "paid"
    assert len(charges_for(attempt)) == 1
    (email,) = mail.outbox
    assert (
        email.to == ["ap@contoso.example"]
        and email.subject == "Auto-recharge of 65.00 USD succeeded"
    )
    assert "New balance: 70.00 USD" in email.body and "CONTOSO-000001" in email.body


@pytest.mark.django_db
def test_debt_is_included_in_the_one_charge(org):
    turn_on(org)
    spend(org, "10.00", "long-call")  # no funds at all: 10.00 owed
    attempt = recharge_run(account_id=account_of(org).pk)
    assert attempt.amount == D("80.00")  # 50 + (20 - -10)
    account = account_of(org)
    assert (account.balance, account.debt) == (D("70.00"), D("0"))


@pytest.mark.django_db
def test_nothing_happens_above_the_trigger_or_when_off(org):
    turn_on(org)
    grant(org, "100")
    assert recharge_run(account_id=account_of(org).pk) is None
    auto_recharge_configure(
        account=account_of(org), enabled=False, trigger_amount="200", recharge_amount="50"
    )
    assert recharge_run(account_id=account_of(org).pk) is None
    assert not attempts(org)


@pytest.mark.django_db
def test_running_twice_charges_once(org):
    turn_on(org)
    account_id = account_of(org).pk
    first = recharge_run(account_id=account_id)
    second = recharge_run(account_id=account_id)
    assert first.status == "succeeded" and second is None
    assert len(attempts(org)) == 1 and FundLot.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_triggers_at_the_same_moment_make_one_attempt(org):
    turn_on(org)
    account_id = account_of(org).pk
    assert at_once(lambda _i: recharge_run(account_id=account_id), 4) == []
    (attempt,) = attempts(org)
    assert attempt.status == "succeeded" and len(charges_for(attempt)) == 1
    assert account_of(org).balance == D("70.00")


@pytest.mark.django_db
def test_a_worker_dying_after_the_charge_is_repaired_once_by_retry_and_webhook(client, org):
    turn_on(org)
    account_id = account_of(org).pk
    real_create = recharge._create_intent

    def charge_then_die(*args, **kwargs):
        real_create(*args, **kwargs)  # Stripe charged the card…
        raise SystemExit("worker killed")  # …and the worker died before saving anything

    with mock.patch.object(recharge, "_create_intent", charge_then_die), pytest.raises(SystemExit):
        recharge_run(account_id=account_id)
    (attempt,) = attempts(org)
    assert attempt.status == "charging" and attempt.stripe_payment_intent_id == ""
    (intent,) = charges_for(attempt)
    # Celery redelivers the task at once: the lease keeps it from charging again.
    assert recharge_run(account_id=account_id).status == "charging"
    # The webhook and, after the lease, the retry both arrive.
    body, signature = signed_event("payment_intent.succeeded", intent_as_dict(intent.id))
    assert (
        client.post(
            "/billing/stripe/webhook/",
            body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature,
        ).status_code
        == 200
    )
    with time_machine.travel(timezone.now() + timedelta(minutes=7)):
        recharge_sweep()
        recharge_run(account_id=account_id)
    attempt.refresh_from_db()
    assert attempt.status == "succeeded" and attempt.stripe_payment_intent_id == intent.id
    assert FundLot.objects.count() == 1 and Invoice.objects.count() == 1
    assert len(charges_for(attempt)) == 1 and account_of(org).balance == D("70.00")


@pytest.mark.django_db
def test_the_webhook_twice_and_out_of_order_adds_one_lot(client, org):
    turn_on(org)
    attempt = recharge_run(account_id=account_of(org).pk)
    intent = intent_as_dict(attempt.stripe_payment_intent_id)
    for event_type, event_id in [
        ("payment_intent.succeeded", "evt_a"),
        ("payment_intent.payment_failed", "evt_b"),  # a stale failure arriving late
        ("payment_intent.succeeded", "evt_a"),
        ("payment_intent.succeeded", "evt_c"),
    ]:
        body, signature = signed_event(event_type, intent, event_id=event_id)
        client.post(
            "/billing/stripe/webhook/",
            body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature,
        )
    attempt.refresh_from_db()
    assert attempt.status == "succeeded" and FundLot.objects.count() == 1


@pytest.mark.django_db
def test_a_decline_emails_backs_off_and_recovers_after_the_card_is_replaced(
    org, django_capture_on_commit_callbacks
):
    turn_on(org, number=DECLINED_ON_CHARGE)
    account_id = account_of(org).pk
    with django_capture_on_commit_callbacks(execute=True):
        failed = recharge_run(account_id=account_id)
    assert (failed.status, failed.failure_code, failed.hard_decline) == (
        "failed",
        "card_declined",
        False,
    )
    assert account_of(org).balance == 0 and not FundLot.objects.exists()
    account = account_of(org)
    assert account.recharge_failures == 1
    assert (
        timedelta(minutes=59) < account.recharge_retry_after - timezone.now() <= timedelta(hours=1)
    )
    assert [m.subject for m in mail.outbox] == ["Auto-recharge of 70.00 USD failed"]
    assert "try again after" in mail.outbox[0].body
    assert recharge_sweep() == 0, "no storm: nothing before the back-off ends"
    with time_machine.travel(timezone.now() + timedelta(hours=1, minutes=1)):
        assert recharge_sweep() == 1
    account = account_of(org)
    assert account.recharge_failures == 2
    assert account.recharge_retry_after - timezone.now() > timedelta(hours=5)
    save_card(org)  # the admin replaces the card
    assert recharge_sweep() == 1
    assert account_of(org).balance == D("70.00")
    assert [a.status for a in attempts(org)] == ["failed", "failed", "succeeded"]


@pytest.mark.django_db
def test_three_declines_in_a_row_suspend_until_the_card_is_replaced(
    org, settings, django_capture_on_commit_callbacks
):
    settings.RECHARGE_RETRY_HOURS = [0, 0, 0]
    turn_on(org, number=DECLINED_ON_CHARGE)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            recharge_sweep()
    account = account_of(org)
    assert len(attempts(org)) == 3 and account.recharge_suspended_at is not None
    assert "3 declines in a row" in account.recharge_suspended_reason
    assert "Auto-recharge is suspended" in [m.subject for m in mail.outbox]
    save_card(org)
    assert recharge_sweep() == 1 and account_of(org).recharge_suspended_at is None


@pytest.mark.django_db
def test_authentication_required_is_a_hard_decline_never_retried(org):
    turn_on(org, number=NEEDS_AUTHENTICATION)
    attempt = recharge_run(account_id=account_of(org).pk)
    assert (attempt.status, attempt.failure_code, attempt.hard_decline) == (
        "failed",
        "authentication_required",
        True,
    )
    assert account_of(org).recharge_suspended_at is not None
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        assert recharge_sweep() == 0
    assert len(attempts(org)) == 1


@pytest.mark.django_db
def test_the_runaway_guard_pauses_and_emails_once(
    org, settings, django_capture_on_commit_callbacks
):
    settings.RECHARGE_MAX_PER_DAY = 2
    turn_on(org, trigger="20", amount="10")
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(4):
            spend(org, "60.00", f"call-{n}")
            recharge_run(account_id=account_of(org).pk)
    assert [a.status for a in attempts(org)] == ["succeeded", "succeeded"]
    subjects = [m.subject for m in mail.outbox]
    assert subjects.count("Auto-recharge paused: 2 recharges in 24 hours") == 1
    due = recharge.recharge_due(account_of(org))
    assert due.amount is None and due.reason == recharge.NotDue.PAUSED
    assert due.message == "Paused: the most recharges allowed in 24 hours have run"


@pytest.mark.django_db
def test_an_agreement_is_invoiced_instead_of_charged(org):
    account = account_of(org)
    agreement, _ = agreement_register(
        account=account, number="EA-5550001", payment_terms_days=30, credit_limit="1000"
    )
    recharge_method_set(account=account, agreement=agreement)
    auto_recharge_configure(
        account=account_of(org), enabled=True, trigger_amount="20", recharge_amount="100"
    )
    attempt = recharge_run(account_id=account.pk)
    assert attempt.status == "succeeded" and attempt.stripe_payment_intent_id == ""
    invoice = attempt.lot.invoice
    assert (invoice.status, invoice.agreement, invoice.total) == ("due", agreement, D("120"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("trigger", "amount", "field", "message"),
    [
        ("0", "50", "trigger_amount", "more than zero"),
        ("-1", "50", "trigger_amount", "more than zero"),
        ("20.001", "50", "trigger_amount", "decimals"),
        ("20", "5", "recharge_amount", "smallest"),
        ("20", "50000", "recharge_amount", "largest"),
        ("20", "x", "recharge_amount", "amount such as"),
        ("99999", "50", "trigger_amount", "at most"),
    ],
)
def test_bad_settings_are_refused(org, trigger, amount, field, message):
    save_card(org)
    with pytest.raises(BillingError, match=message) as refused:
        auto_recharge_configure(
            account=account_of(org), enabled=True, trigger_amount=trigger, recharge_amount=amount
        )
    assert refused.value.field == field
    assert account_of(org).auto_recharge_enabled is False


@pytest.mark.django_db
def test_turning_on_needs_something_to_pay_with(org):
    with pytest.raises(BillingError) as refused:
        auto_recharge_configure(
            account=account_of(org), enabled=True, trigger_amount="20", recharge_amount="50"
        )
    assert refused.value.conflict
    auto_recharge_configure(
        account=account_of(org), enabled=False, trigger_amount="20", recharge_amount="50"
    )


@pytest.mark.django_db
def test_new_commerce_has_nothing_to_recharge(db):
    newco = make_org("newco", commerce="new")
    with pytest.raises(BillingError, match="New-commerce"):
        auto_recharge_configure(
            account=account_of(newco), enabled=False, trigger_amount="20", recharge_amount="50"
        )


@pytest.mark.django_db
def test_reaching_zero_emails_the_billing_contacts(org, django_capture_on_commit_callbacks):
    billing_contact_add(organisation=org, email="ap@contoso.example")
    grant(org, "5")
    with django_capture_on_commit_callbacks(execute=True):
        spend(org, "2", "c1")
        spend(org, "3", "c2")
        spend(org, "1", "c3")
    assert [m.subject for m in mail.outbox] == ["Your Communications Credits balance reached zero"]


@pytest.mark.django_db
def test_a_gateway_time_out_is_not_a_decline_and_is_reconciled(org):
    from billing import gateway

    turn_on(org)
    account_id = account_of(org).pk
    real_create = recharge._create_intent

    def charge_then_time_out(*args, **kwargs):
        real_create(*args, **kwargs)
        raise gateway.ConnectionFailed("read timed out")

    with mock.patch.object(recharge, "_create_intent", charge_then_time_out):
        attempt = recharge_run(account_id=account_id)
    assert attempt.status == "charging"
    account = account_of(org)
    assert account.recharge_failures == 0 and account.recharge_retry_after is None
    with time_machine.travel(timezone.now() + timedelta(minutes=7)):
        assert recharge_sweep() == 1
    attempt.refresh_from_db()
    assert attempt.status == "succeeded" and len(charges_for(attempt)) == 1


@pytest.mark.django_db
def test_run_recharges_command(org):
    import io

    from django.core.management import call_command

    turn_on(org)
    out = io.StringIO()
    call_command("run_recharges", stdout=out)
    assert out.getvalue() == "Ran 1 recharges.\n"
    assert account_of(org).balance == D("70.00")


@pytest.mark.django_db
def test_a_recharge_never_charges_more_than_the_purchase_maximum(
    org, django_capture_on_commit_callbacks
):
    """Issue 13, finding 4: debt 3,370.18 with trigger = recharge = 10,000 charged 23,370.18 at
    once. One charge is at most PURCHASE_MAX_AMOUNT and says it was capped; the next follows."""
    turn_on(org, trigger="10000", amount="10000")
    spend(org, "3370.18", "long-calls")
    with django_capture_on_commit_callbacks(execute=True):
        first = recharge_run(account_id=account_of(org).pk)
    assert (first.status, first.amount) == ("succeeded", D("10000.00"))
    assert "capped at the 10,000.00 USD maximum" in first.note
    (charge,) = charges_for(first)
    assert charge.amount == 1_000_000
    assert "capped at the 10,000.00 USD maximum" in first.lot.invoice.lines.get().description
    assert "capped at the 10,000.00 USD maximum" in mail.outbox[-1].body
    assert account_of(org).balance == D("6629.82")
    second = recharge_run(account_id=account_of(org).pk)
    assert (second.status, second.amount) == ("succeeded", D("10000.00"))
    assert account_of(org).balance == D("16629.82")
    assert recharge.recharge_amount_due(account_of(org)) == D("10000.00")
