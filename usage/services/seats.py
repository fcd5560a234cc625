"""Your products: seats bought, released and renewed, paid through billing.

Licensing owns the seats and their catalogue price, billing owns charging and invoicing; this
module (in `usage`, the one app that may import both) joins them. A purchase pays the rest of the
current month (UTC) for the new seats, prorated by day, and adds them in the transaction that
records the invoice; a release takes effect at the next renewal; the renewal, on the first of
each month, invoices every seat for the month ahead, once per subscription and month.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from django.utils import timezone

from billing.exceptions import AgreementNotRegistered
from billing.models import Invoice
from billing.money import format_money, round_money
from billing.services.agreements import AGREEMENT_NUMBER, agreements_choosable
from billing.services.charges import ChargeInProgress, charge_pay
from billing.services.ledger import account_for
from credits_portal.models import Organisation
from licensing.exceptions import LicensingError
from licensing.models import Product, Subscription
from licensing.services import (
    month_start,
    product_for,
    seat_count,
    seat_price,
    seats_add,
    seats_added_since,
    subscription_renew,
    subscriptions_due_renewal,
)

RENEWAL_DUE_DAYS = 30


@dataclass(frozen=True)
class Quote:
    """What buying `count` seats now costs: each seat's price for the days left of the month."""

    product: Product
    count: int
    currency: str
    per_seat_month: Decimal
    per_seat: Decimal
    days: int
    days_in_month: int
    start: date
    end: date

    @property
    def total(self) -> Decimal:
        return self.per_seat * self.count

    @property
    def description(self) -> str:
        seats = "seat" if self.count == 1 else "seats"
        return (
            f"{self.count} × {self.product.name} {seats}, {self.start:%d %b}–{self.end:%d %b %Y} "
            f"({self.days}/{self.days_in_month} days of "
            f"{format_money(self.per_seat_month, self.currency)} per seat and month)"
        )


def _price(organisation: Organisation, product: Product) -> Decimal:
    currency = str(account_for(organisation).currency)
    price = seat_price(product=product, currency=currency)
    if price is None:
        raise LicensingError(
            f"{product.name} has no price in {currency} yet; ask an operator.",
            field="sku",
            conflict=True,
        )
    return price


def seat_quote(
    *, organisation: Organisation, sku: str, count: object, now: datetime | None = None
) -> Quote:
    """The prorated price of `count` more seats of `sku`, today to the end of the month (UTC):
    each seat's monthly price × days left (today included) ÷ days in the month, rounded once."""
    product = product_for(sku)
    count = seat_count(count, field="add")
    price = _price(organisation, product)
    currency = str(account_for(organisation).currency)
    today = (now or timezone.now()).astimezone(UTC).date()
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    days = days_in_month - today.day + 1
    return Quote(
        product=product,
        count=count,
        currency=currency,
        per_seat_month=price,
        per_seat=round_money(price * days / days_in_month, currency),
        days=days,
        days_in_month=days_in_month,
        start=today,
        end=today.replace(day=days_in_month),
    )


def agreement_named(organisation: Organisation, number: str | None):
    """The registered agreement `number` names, or None when none is named; another
    organisation's, a requested or a removed one is refused like one that does not exist."""
    if number is None:
        return None
    number = number.strip()
    agreement = None
    if AGREEMENT_NUMBER.match(number):
        agreement = agreements_choosable(organisation).filter(number=number).first()
    if agreement is None:
        raise AgreementNotRegistered(
            f"{number[:40]!r} is not an agreement an operator registered for your organisation."
        )
    return agreement


def seats_buy(
    *,
    organisation: Organisation,
    sku: str,
    count: object,
    reference: str,
    agreement_number: str | None = None,
    actor: str = "",
    now: datetime | None = None,
) -> tuple[Subscription, Invoice | None]:
    """Buy `count` seats now: the rest of the month is invoiced and paid (the named registered
    agreement, else the default payment method) and the seats added with it, once per
    `reference`. A free license adds the seats without an invoice."""
    quote = seat_quote(organisation=organisation, sku=sku, count=count, now=now)
    agreement = agreement_named(organisation, agreement_number)
    if quote.total == 0:
        subscription = seats_add(
            organisation=organisation,
            sku=quote.product.sku,
            count=quote.count,
            reference=reference,
            actor=actor,
        )
        return subscription, None

    def fulfil(invoice: Invoice) -> None:
        seats_add(
            organisation=organisation,
            sku=quote.product.sku,
            count=quote.count,
            reference=reference,
            invoice=invoice.display_number,
            actor=actor,
        )

    charge = charge_pay(
        account=account_for(organisation),
        reference=f"seats:{reference}",
        amount=quote.total,
        description=quote.description,
        fulfil=fulfil,
        agreement=agreement,
        actor=actor,
        period=(quote.start, quote.end),
    )
    subscription = Subscription.objects.select_related("product").get(
        organisation=organisation, product=quote.product
    )
    return subscription, charge.invoice


def seats_renew(*, subscription: Subscription, month: date) -> Invoice | None:
    """Renew one subscription for `month`: released seats leave, and the seats that stay are
    invoiced for the month (less those bought during it, already paid), charged to the default
    payment method or, when nothing can pay, due in 30 days. Once per subscription and month."""
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    # The seats as they are now, not as the run's query found them: a release since then is not
    # billed. One landing after this read leaves at the next renewal (`releasing` below).
    subscription.refresh_from_db(fields=["seats", "releasing"])
    releasing = subscription.releasing
    account = account_for(subscription.organisation)
    currency = str(account.currency)
    price = seat_price(product=subscription.product, currency=currency)
    billable = (
        subscription.seats - releasing - seats_added_since(subscription=subscription, start=start)
    )
    per_seat = round_money(price or Decimal(0), currency)
    if billable <= 0 or per_seat == 0:
        subscription_renew(subscription=subscription, month=month, releasing=releasing)
        return None
    last = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    seats = "seat" if billable == 1 else "seats"
    charge = charge_pay(
        account=account,
        reference=f"renewal:{subscription.pk}:{month:%Y-%m}",
        amount=per_seat * billable,
        description=(
            f"{billable} × {subscription.product.name} {seats}, {month:%B %Y} "
            f"({format_money(per_seat, currency)} per seat and month)"
        ),
        fulfil=lambda invoice: subscription_renew(
            subscription=subscription,
            month=month,
            invoice=invoice.display_number,
            releasing=releasing,
        ),
        period=(month, last),
        due_days_when_unpaid=RENEWAL_DUE_DAYS,
    )
    return charge.invoice


def seats_renew_due(*, now: datetime | None = None) -> int:
    """Renew every subscription not yet renewed for the current month (what beat runs on the
    first of each month); the number renewed. Safe to run twice."""
    month = month_start(now or timezone.now()).date()
    renewed = 0
    for subscription in subscriptions_due_renewal(month):
        try:
            seats_renew(subscription=subscription, month=month)
        except ChargeInProgress:
            # Another run is charging it now (or the gateway did not answer): that run, or the
            # next, finishes it; the other subscriptions are not held up.
            continue
        renewed += 1
    return renewed
