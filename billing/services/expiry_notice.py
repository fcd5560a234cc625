"""The daily notice of funds that expire within 30 days: once per lot."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from billing.models import CreditAccount, FundLot
from billing.money import amount_text, format_money
from billing.selectors import EXPIRING_SOON
from billing.services.notifications import notify_later
from credits_portal.events import publish


def expiring_funds_notify() -> int:
    """Email each account whose unexpired lots reach their expiry within 30 days; mark the lots."""
    now = timezone.now()
    due = FundLot.objects.filter(
        expired_at__isnull=True,
        expiry_notified_at__isnull=True,
        remaining__gt=0,
        expires_at__gt=now,
        expires_at__lte=now + EXPIRING_SOON,
    )
    notified = 0
    for account_id in due.values_list("account_id", flat=True).distinct().order_by():
        with transaction.atomic():
            lots = list(due.filter(account_id=account_id).select_for_update(skip_locked=True))
            if not lots:
                continue
            account = CreditAccount.objects.select_related("organisation").get(pk=account_id)
            currency = str(account.currency)
            total = sum(lot.remaining for lot in lots)
            first = min(lot.expires_at for lot in lots)
            FundLot.objects.filter(pk__in=[lot.pk for lot in lots]).update(expiry_notified_at=now)
            notify_later(
                account=account,
                kind="funds_expiring",
                amount=format_money(total, currency),
                first_expiry=f"{first:%Y-%m-%d}",
                lots=str(len(lots)),
            )
            publish(
                organisation_id=account.organisation_id,
                type="funds.expiring",
                # Each lot is announced once (marked above): its first lot names the notice.
                key=f"funds.expiring:{min(lot.pk for lot in lots)}",
                data={
                    "amount": amount_text(total, currency),
                    "currency": currency,
                    "first_expires_at": first.isoformat(),
                    "lots": len(lots),
                },
            )
            notified += 1
    return notified
