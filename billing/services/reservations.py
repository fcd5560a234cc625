"""Reservations: funds held by allowed credit-funded calls, so concurrent calls never together
spend more than the available balance (balance less open reservations)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from billing.models import CreditAccount, Reservation


def reserved(account: CreditAccount, now: datetime | None = None) -> Decimal:
    """What open, unexpired reservations hold on the account."""
    total = Reservation.objects.filter(
        account=account, status=Reservation.Status.OPEN, expires_at__gt=now or timezone.now()
    ).aggregate(total=Sum("amount"))["total"]
    return total or Decimal(0)


def available(account: CreditAccount, now: datetime | None = None) -> Decimal:
    return max(account.balance - reserved(account, now), Decimal(0))


def reservation_open(
    *, locked_account: CreditAccount, code: str, amount: Decimal, expires_at: datetime
) -> Reservation:
    """Hold `amount` for a call; the caller holds the account's row lock and checked `available`."""
    return Reservation.objects.create(
        account=locked_account, code=code, amount=amount, expires_at=expires_at
    )


def reservations_close(*, codes: list[str], status: str) -> int:
    """Settle (a usage record came) or release reservations; closing twice changes nothing."""
    return Reservation.objects.filter(code__in=codes, status=Reservation.Status.OPEN).update(
        status=status, closed_at=timezone.now()
    )


def reservations_release_expired(now: datetime | None = None) -> int:
    """One UPDATE: every open reservation past its expiry is released (the minute task)."""
    now = now or timezone.now()
    return Reservation.objects.filter(status=Reservation.Status.OPEN, expires_at__lte=now).update(
        status=Reservation.Status.RELEASED, closed_at=now
    )
