"""Adversarial: seat purchases, releases, assignments and the renewal at once, on real
PostgreSQL and localstripe; money charged exactly once per purchase and verify_ledger green."""

from __future__ import annotations

from decimal import Decimal

import pytest
import time_machine

from billing.models import Charge, Invoice
from billing.services.charges import ChargeInProgress
from billing.services.verify import ledger_verify
from licensing.exceptions import AssignmentRefused, LicensingError
from licensing.models import Subscription
from licensing.services import Change, license_change, seats_release
from tests.billing.recharge_helpers import save_card
from tests.builders import make_user, seats
from tests.processes import at_once
from tests.stripe_helpers import intents_where
from tests.usage.seat_helpers import at
from usage.services.seats import seats_buy, seats_renew, seats_renew_due

pytestmark = pytest.mark.django_db(transaction=True)


def phone(org) -> Subscription:
    return Subscription.objects.get(organisation=org, product__sku="PHONE_SYSTEM")


def test_fifty_purchases_with_one_key_charge_once(org):
    save_card(org)
    with time_machine.travel(at("2026-11-21T10:00"), tick=True):
        errors = at_once(
            lambda i: seats_buy(organisation=org, sku="PHONE_SYSTEM", count=3, reference="k"),
            50,
        )
    assert [e for e in errors if not isinstance(e, ChargeInProgress)] == []
    charge = Charge.objects.get()
    assert len(intents_where(charge=str(charge.code))) == 1
    assert Invoice.objects.get().total == Decimal("8.01")
    assert phone(org).seats == 3
    assert ledger_verify() == []


def test_purchases_with_different_keys_each_charge(org):
    save_card(org)
    with time_machine.travel(at("2026-11-21T10:00"), tick=True):
        errors = at_once(
            lambda i: seats_buy(organisation=org, sku="PHONE_SYSTEM", count=1, reference=f"k{i}"),
            12,
        )
    assert errors == []
    assert Charge.objects.count() == Invoice.objects.count() == 12
    assert phone(org).seats == 12
    assert ledger_verify() == []


def test_releases_racing_assignments_never_leave_more_assigned_than_kept(org):
    seats(org, PHONE_SYSTEM=6)
    users = [make_user(org) for _ in range(6)]

    def work(i: int) -> None:
        if i % 2:
            seats_release(subscription=phone(org), count=1, reference=f"r{i}")
        else:
            license_change(
                organisation=org,
                changes=[Change(users[i // 2], {"PHONE_SYSTEM"})],
                actor="t",
                source="t",
            )

    errors = at_once(work, 12)
    assert all(isinstance(e, LicensingError | AssignmentRefused) for e in errors), errors
    sub = phone(org)
    assert sub.assigned + sub.releasing <= sub.seats == 6


def test_the_renewal_run_twice_at_once_invoices_once(org):
    save_card(org)
    with time_machine.travel(at("2026-11-10T12:00"), tick=False):
        seats_buy(organisation=org, sku="PHONE_SYSTEM", count=2, reference="nov")
    with time_machine.travel(at("2026-12-01T01:30"), tick=True):
        errors = at_once(lambda i: seats_renew_due(), 6)
    assert errors == []
    assert Invoice.objects.filter(period_start="2026-12-01").count() == 1
    assert phone(org).changes.filter(kind="renewed").count() == 1
    assert ledger_verify() == []


def test_a_release_just_before_the_renewal_is_not_billed(org):
    """The renewal reads the subscription, a release lands, then the renewal invoices: the seats
    released must not be billed for the month they no longer exist in."""
    with time_machine.travel(at("2026-11-10T12:00"), tick=False):
        seats(org, PHONE_SYSTEM=5)
    with time_machine.travel(at("2026-12-01T01:30"), tick=False):
        stale = phone(org)  # what the beat's query loaded
        seats_release(subscription=phone(org), count=3, reference="late")
        invoice = seats_renew(subscription=stale, month=at("2026-12-01T00:00").date())
    assert phone(org).seats == 2
    assert invoice.total == Decimal("16.00")  # 2 seats × 8.00, not 5


def test_a_release_during_the_renewal_charge_leaves_at_the_next_renewal(org, monkeypatch):
    """Billed for the month, a seat released while the renewal is being charged stays until the
    next renewal: never billed and removed in the same month."""
    from usage.services import seats as seat_service

    save_card(org)
    with time_machine.travel(at("2026-11-10T12:00"), tick=False):
        seats(org, PHONE_SYSTEM=5)
    real = seat_service.charge_pay

    def release_then_pay(**kwargs):
        seats_release(subscription=phone(org), count=3, reference="during")  # one precise point
        return real(**kwargs)

    monkeypatch.setattr(seat_service, "charge_pay", release_then_pay)
    with time_machine.travel(at("2026-12-01T01:30"), tick=False):
        invoice = seats_renew(subscription=phone(org), month=at("2026-12-01T00:00").date())
    assert invoice.total == Decimal("40.00")  # the 5 seats the invoice was computed for
    sub = phone(org)
    assert (sub.seats, sub.releasing) == (5, 3)  # the 3 leave at January's renewal
    monkeypatch.undo()
    with time_machine.travel(at("2027-01-01T01:30"), tick=False):
        seats_renew_due()
    assert Invoice.objects.get(period_start="2027-01-01").total == Decimal("16.00")
    assert (phone(org).seats, phone(org).releasing) == (2, 0)
    assert ledger_verify() == []
