"""Buying seats (the prorated rest of the month, paid and invoiced with them), releasing unassigned
seats from the next renewal, and the monthly renewal invoice, once per subscription and month."""

from __future__ import annotations

from decimal import Decimal

import pytest
import time_machine

from billing.exceptions import AgreementNotRegistered, CreditLimitExceeded
from billing.models import Charge, CreditAccount, Invoice
from billing.services.charges import CardDeclined, NoPaymentMethod
from licensing.exceptions import AssignmentRefused, LicensingError
from licensing.models import SeatChange, Subscription
from licensing.services import Change, license_change, seats_release
from tests.billing.recharge_helpers import save_card
from tests.builders import account_of, make_org, make_user, seats
from tests.stripe_helpers import DECLINED_ON_CHARGE, intents_where
from tests.usage.seat_helpers import at, register
from usage.services.seats import seat_quote, seats_buy, seats_renew_due

pytestmark = pytest.mark.django_db(transaction=False)


def subscription(org, sku="PHONE_SYSTEM") -> Subscription:
    return Subscription.objects.get(organisation=org, product__sku=sku)


def test_the_quote_is_the_monthly_price_for_the_days_left_rounded_once(org):
    # November has 30 days; on the 21st, 10 are left (the 21st included): 8.00 × 10/30 = 2.67.
    quote = seat_quote(organisation=org, sku="PHONE_SYSTEM", count=3, now=at("2026-11-21T10:00"))
    assert (quote.per_seat_month, quote.per_seat, quote.total) == (
        Decimal("8.0000"),
        Decimal("2.67"),
        Decimal("8.01"),
    )
    assert (quote.days, quote.days_in_month) == (10, 30)
    assert str(quote.start) == "2026-11-21" and str(quote.end) == "2026-11-30"


def test_buying_seats_charges_the_saved_card_and_invoices_them_once(org):
    save_card(org)
    with time_machine.travel(at("2026-11-21T10:00"), tick=False):
        first = seats_buy(organisation=org, sku="PHONE_SYSTEM", count=3, reference="r1")
        again = seats_buy(organisation=org, sku="PHONE_SYSTEM", count=3, reference="r1")
    (sub, invoice), (sub_again, invoice_again) = first, again
    assert invoice == invoice_again
    assert (invoice.kind, invoice.status, invoice.total) == ("seats", "paid", Decimal("8.01"))
    assert invoice.period == "2026-11-21/2026-11-30"
    assert "3 × Phone System seats" in invoice.lines.get().description
    assert sub.seats == sub_again.seats == 3
    change = SeatChange.objects.get(kind="added")
    assert change.invoice == invoice.display_number
    charge = Charge.objects.get()
    assert len(intents_where(charge=str(charge.code))) == 1
    assert account_of(org).balance == 0  # seats are not credits


def test_a_registered_agreement_is_invoiced_within_its_credit_limit(org):
    register(org, limit="20")
    with time_machine.travel(at("2026-11-01T09:00"), tick=False):
        _sub, invoice = seats_buy(
            organisation=org,
            sku="PHONE_SYSTEM",
            count=2,
            reference="ea-1",
            agreement_number="EA-4500123",
        )
        assert (invoice.status, invoice.total, invoice.agreement.number) == (
            "due",
            Decimal("16.00"),
            "EA-4500123",
        )
        with pytest.raises(CreditLimitExceeded):
            seats_buy(
                organisation=org,
                sku="PHONE_SYSTEM",
                count=1,
                reference="ea-2",
                agreement_number="EA-4500123",
            )
    assert subscription(org).seats == 2


def test_the_default_method_can_be_the_agreement_recharges_use(org):
    agreement = register(org)
    CreditAccount.objects.filter(organisation=org).update(
        recharge_method="agreement", recharge_agreement=agreement
    )
    _sub, invoice = seats_buy(organisation=org, sku="AUDIO_CONF", count=1, reference="d")
    assert invoice.agreement == agreement


def test_another_organisations_agreement_is_not_registered_here(org, other_org):
    register(other_org, number="EA-9000001")
    save_card(org)
    with pytest.raises(AgreementNotRegistered):
        seats_buy(
            organisation=org,
            sku="PHONE_SYSTEM",
            count=1,
            reference="x",
            agreement_number="EA-9000001",
        )
    assert not Subscription.objects.filter(organisation=org).exists()
    assert not Invoice.objects.exists()


def test_refused_without_a_payment_method(org):
    with pytest.raises(NoPaymentMethod):
        seats_buy(organisation=org, sku="PHONE_SYSTEM", count=1, reference="n")
    assert not Subscription.objects.filter(organisation=org, seats__gt=0).exists()
    assert not Invoice.objects.exists()


def test_a_declined_card_adds_no_seats(org):
    save_card(org, DECLINED_ON_CHARGE)
    with pytest.raises(CardDeclined):
        seats_buy(organisation=org, sku="PHONE_SYSTEM", count=1, reference="d")
    assert not Subscription.objects.filter(organisation=org, seats__gt=0).exists()
    assert not Invoice.objects.exists()


def test_a_free_license_adds_seats_without_an_invoice(org):
    sub, invoice = seats_buy(organisation=org, sku="COMMS_CREDITS", count=4, reference="f")
    assert (sub.seats, invoice) == (4, None)


def test_a_license_without_a_price_in_the_currency_is_refused(db):
    yen = make_org("nippon", currency="JPY", country="JP")
    with pytest.raises(LicensingError) as refused:
        seats_buy(organisation=yen, sku="PHONE_SYSTEM", count=1, reference="y")
    assert refused.value.conflict and "JPY" in refused.value.message


@pytest.mark.parametrize("count", [0, -1, 10**12, True, 2.5, "-3", "1e3", None])
def test_a_count_that_is_not_a_positive_whole_number_is_refused(org, count):
    with pytest.raises(LicensingError) as refused:
        seats_buy(organisation=org, sku="PHONE_SYSTEM", count=count, reference="c")
    assert refused.value.field == "add"


def test_releasing_leaves_assigned_seats_alone_and_takes_effect_at_renewal(org):
    with time_machine.travel(at("2026-11-15T12:00"), tick=False):
        seats(org, PHONE_SYSTEM=5)
    users = [make_user(org) for _ in range(2)]
    license_change(
        organisation=org,
        changes=[Change(u, {"PHONE_SYSTEM"}) for u in users],
        actor="t",
        source="t",
    )
    with pytest.raises(LicensingError) as refused:
        seats_release(subscription=subscription(org), count=4, reference="r1")
    assert refused.value.conflict and refused.value.field == "release"
    released = seats_release(subscription=subscription(org), count=3, reference="r2")
    seats_release(subscription=subscription(org), count=3, reference="r2")  # the same form again
    assert (released.seats, released.releasing, released.available) == (5, 3, 0)
    # Released seats are no longer assignable.
    with pytest.raises(AssignmentRefused):
        license_change(
            organisation=org,
            changes=[Change(make_user(org), {"PHONE_SYSTEM"})],
            actor="t",
            source="t",
        )
    with time_machine.travel(at("2026-12-01T01:30"), tick=False):
        seats_renew_due()
    renewed = subscription(org)
    assert (renewed.seats, renewed.releasing, renewed.assigned) == (2, 0, 2)
    # Nothing to pay with: the renewal is invoiced, due in 30 days.
    invoice = Invoice.objects.get()
    assert (invoice.total, invoice.status, invoice.period) == (Decimal("16.00"), "due", "2026-12")


def test_the_renewal_invoices_every_seat_once_per_subscription_and_month(org):
    save_card(org)
    with time_machine.travel(at("2026-11-10T12:00"), tick=False):
        seats_buy(organisation=org, sku="PHONE_SYSTEM", count=2, reference="nov")
    with time_machine.travel(at("2026-12-01T01:30"), tick=False):
        assert seats_renew_due() == 1
        assert seats_renew_due() == 0
        # Bought after the renewal: the purchase pays December, the next renewal is January.
        seats_buy(organisation=org, sku="AUDIO_CONF", count=1, reference="dec")
    with time_machine.travel(at("2026-12-02T01:30"), tick=False):
        assert seats_renew_due() == 0
    december = Invoice.objects.filter(period_start="2026-12-01", period_end="2026-12-31")
    # The renewal of the two Phone System seats, and the Audio Conferencing seat bought after it.
    assert sorted((i.total, i.status) for i in december) == [
        (Decimal("4.00"), "paid"),
        (Decimal("16.00"), "paid"),
    ]
    assert SeatChange.objects.filter(kind="renewed").count() == 1
    with time_machine.travel(at("2027-01-01T01:30"), tick=False):
        assert seats_renew_due() == 2
    assert Invoice.objects.filter(period_start="2027-01-01").count() == 2


def test_seats_bought_this_month_are_not_billed_twice_by_a_late_renewal(org):
    save_card(org)
    seats(org, PHONE_SYSTEM=1)  # bought by an operator long ago
    SeatChange.objects.update(at=at("2026-10-01T00:00"))
    with time_machine.travel(at("2026-12-01T00:10"), tick=False):
        seats_buy(organisation=org, sku="PHONE_SYSTEM", count=2, reference="early")
    with time_machine.travel(at("2026-12-01T01:30"), tick=False):
        seats_renew_due()
    renewal = Invoice.objects.filter(lines__description__contains="December").get()
    assert renewal.total == Decimal("8.00")  # one seat: the two bought today paid December


def test_the_beat_task_runs_the_renewal(org):
    from usage.tasks import renew_seats

    with time_machine.travel(at("2026-10-15T12:00"), tick=False):
        seats(org, AUDIO_CONF=1)
    with time_machine.travel(at("2026-11-01T01:30"), tick=False):
        assert renew_seats.delay().get() == 1
        assert renew_seats.delay().get() == 0
    invoice = Invoice.objects.get()
    assert (invoice.kind, invoice.total, invoice.status, invoice.period) == (
        "seats",
        Decimal("4.00"),
        "due",
        "2026-11",
    )
