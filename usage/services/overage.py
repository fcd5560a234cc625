"""New-commerce overage: accrued on usage records, invoiced once their month has closed.

Each overage record names the invoice that billed it. A run bills, for each organisation, every
record not yet billed that started before the current month (UTC), whatever its month: a late
record of a month already invoiced joins the next invoice, on a line that names its month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from billing.models import Invoice, InvoiceLine
from billing.money import round_money
from billing.services.invoices import invoice_issue
from billing.services.ledger import lock_account_of
from credits_portal.models import Organisation
from usage.models import FundedBy, OverageInvoice, UsageRecord
from usage.services.locks import lock_usage_of
from usage.services.pools import month_of

PAYMENT_TERMS_DAYS = 30


class OverageMismatch(RuntimeError):
    """The records marked are not the ones summed: one was stored without the usage lock."""


@dataclass(frozen=True)
class _Month:
    month: date
    total: Decimal
    records: int
    late: bool

    @property
    def description(self) -> str:
        late = " (late records)" if self.late else ""
        return f"Overage calls and messages, {self.month:%B %Y}{late}"


def closed_before(now: datetime) -> datetime:
    """The first instant of `now`'s month in UTC: every month before it is closed."""
    month = month_of(now)
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def _last_day(month: date) -> date:
    following = month.replace(day=28) + timedelta(days=4)
    return following - timedelta(days=following.day)


def _unbilled(before: datetime) -> QuerySet[UsageRecord]:
    # The conditions of the partial index usage_overage_unbilled, so that it alone is read.
    return UsageRecord.objects.filter(
        funded_by=FundedBy.OVERAGE,
        overage_invoice__isnull=True,
        charge__gt=0,
        started_at__lt=before,
    )


def overage_invoice_organisation(
    *, organisation: Organisation, before: datetime
) -> OverageInvoice | None:
    """One invoice, due in 30 days, of every overage record of `organisation` not yet billed that
    started before `before`, a line per month; None when there is none. Bills a record once."""
    with transaction.atomic():
        # The usage lock serialises runs and ingest's inserts: the records summed here are the
        # ones marked below, and a concurrent run finds them marked. The account's, for the
        # invoice, after it (usage/services/locks.py).
        lock_usage_of(organisation)
        account = lock_account_of(organisation)
        unbilled = _unbilled(before).filter(organisation=organisation)
        sums = (
            unbilled.annotate(month=TruncMonth("started_at", tzinfo=UTC))
            .values("month")
            .annotate(total=Sum("charge"), records=Count("id"))
            .order_by("month")
        )
        # A month an earlier invoice covered is stated as late: its invoice was already issued.
        periods = list(
            OverageInvoice.objects.filter(organisation=organisation).values_list(
                "period_start", "period_end"
            )
        )
        months = [
            _Month(
                row["month"].date(),
                row["total"],
                row["records"],
                late=any(start <= row["month"].date() <= end for start, end in periods),
            )
            for row in sums
        ]
        if not months:
            return None
        period_start, period_end = months[0].month, _last_day(months[-1].month)
        invoice = invoice_issue(
            account=account,
            total=sum((m.total for m in months), Decimal(0)),
            description=months[0].description,
            payment_description=(
                f"Invoiced after use (new commerce), due in {PAYMENT_TERMS_DAYS} days"
            ),
            due_days=PAYMENT_TERMS_DAYS,
            kind=Invoice.Kind.OVERAGE,
            period_start=period_start,
            period_end=period_end,
        )
        _state_months(invoice, months)
        overage = OverageInvoice.objects.create(
            organisation=organisation,
            invoice=invoice,
            period_start=period_start,
            period_end=period_end,
        )
        marked = unbilled.update(overage_invoice=overage)
        if marked != sum(m.records for m in months):
            raise OverageMismatch(
                f"{organisation.slug}: {marked} overage records marked, "
                f"{sum(m.records for m in months)} summed; nothing invoiced"
            )
    return overage


def _state_months(invoice: Invoice, months: list[_Month]) -> None:
    """invoice_issue writes one line of the whole total under the first month's description:
    it becomes that month's line, and each further month gets its own."""
    first, *rest = months
    if not rest:
        return
    invoice.lines.update(unit_amount=first.total, amount=first.total)
    InvoiceLine.objects.bulk_create(
        InvoiceLine(invoice=invoice, description=m.description, unit_amount=m.total, amount=m.total)
        for m in rest
    )


def overage_invoice_unbilled(*, now: datetime | None = None) -> int:
    """Invoice, organisation by organisation, every overage record not yet billed up to the end
    of the last closed month (UTC); the number of invoices issued. Safe to run twice."""
    before = closed_before(now or timezone.now())
    waiting = _unbilled(before).values("organisation").distinct()
    issued = 0
    for organisation in Organisation.objects.filter(pk__in=waiting).order_by("pk"):
        if overage_invoice_organisation(organisation=organisation, before=before):
            issued += 1
    return issued


@dataclass(frozen=True)
class OverageMonth:
    """This month's overage so far and where it is heading (pages of new commerce)."""

    month: date
    accrued: Decimal
    forecast: Decimal
    records: int
    last_invoice: Invoice | None


def overage_this_month(organisation: Organisation, *, now: datetime | None = None) -> OverageMonth:
    """What the current month (UTC) has accrued, and the month's forecast at the pace so far
    (accrued ÷ the part of the month elapsed), rounded to the currency's unit."""
    now = now or timezone.now()
    start = closed_before(now)
    found = UsageRecord.objects.filter(
        organisation=organisation,
        kind__in=UsageRecord.Kind.values,  # every kind: a time range a kind of usage_org_kind_time_id
        funded_by=FundedBy.OVERAGE,
        started_at__gte=start,
        started_at__lte=now,
    ).aggregate(total=Sum("charge"), records=Count("id"))
    accrued = found["total"] or Decimal(0)
    month = month_of(now)
    end = datetime.combine(_last_day(month) + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    elapsed = max((now - start).total_seconds(), 3600.0)  # not a month from its first minutes
    pace = Decimal(str((end - start).total_seconds() / elapsed))
    currency = str(organisation.currency)
    last = (
        Invoice.objects.filter(account__organisation=organisation, kind=Invoice.Kind.OVERAGE)
        .order_by("-number")
        .first()
    )
    return OverageMonth(
        month=month,
        accrued=round_money(accrued, currency),
        forecast=round_money(accrued * pace, currency),
        records=found["records"],
        last_invoice=last,
    )
