"""New-commerce overage: accrued on usage records, invoiced monthly for the closed month."""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from billing.services.invoices import invoice_issue
from billing.services.ledger import lock_account_of
from credits_portal.models import Organisation
from usage.models import FundedBy, OverageInvoice, UsageRecord
from usage.services.pools import month_of


def previous_month(today: date) -> date:
    return date(today.year - 1, 12, 1) if today.month == 1 else date(today.year, today.month - 1, 1)


def _next(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def overage_invoice_month(*, organisation: Organisation, month: date) -> OverageInvoice | None:
    """The month's overage as one invoice due in 30 days; once per organisation and month."""
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end_month = _next(month)
    end = datetime(end_month.year, end_month.month, 1, tzinfo=UTC)
    total = UsageRecord.objects.filter(
        organisation=organisation,
        funded_by=FundedBy.OVERAGE,
        started_at__gte=start,
        started_at__lt=end,
    ).aggregate(total=Sum("charge"))["total"]
    if not total:
        return None
    existing = OverageInvoice.objects.filter(organisation=organisation, month=month).first()
    if existing:
        return existing
    try:
        with transaction.atomic():
            account = lock_account_of(organisation)
            invoice = invoice_issue(
                account=account,
                total=total,
                description=f"Overage calls and messages, {month:%B %Y}",
                payment_description="Invoiced after use (new commerce), due in 30 days",
                due_days=30,
            )
            return OverageInvoice.objects.create(
                organisation=organisation, month=month, invoice=invoice
            )
    except IntegrityError:
        return OverageInvoice.objects.get(organisation=organisation, month=month)


def overage_invoice_closed_month(today: date | None = None) -> int:
    month = previous_month(today or month_of(timezone.now()))
    invoiced = 0
    for organisation in Organisation.objects.filter(commerce=Organisation.Commerce.NEW):
        if overage_invoice_month(organisation=organisation, month=month):
            invoiced += 1
    return invoiced
