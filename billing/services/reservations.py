"""Reservations: funds held by allowed credit-funded calls, so concurrent calls never together
spend more than the available balance (balance less what open reservations hold).

`CreditAccount.reserved` is the sum of the account's open reservations, kept with every change
under the account's row lock, so the call path checks the available amount without summing rows.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from billing.models import CreditAccount, Reservation


def available(account: CreditAccount) -> Decimal:
    return max(account.balance - account.reserved, Decimal(0))


def reservation_open(
    *, locked_account: CreditAccount, code: str, amount: Decimal, expires_at: datetime
) -> Reservation:
    """Hold `amount` for a call; the caller holds the account's row lock and checked `available`."""
    reservation = Reservation.objects.create(
        account=locked_account, code=code, amount=amount, expires_at=expires_at
    )
    CreditAccount.objects.filter(pk=locked_account.pk).update(reserved=F("reserved") + amount)
    locked_account.reserved += amount
    return reservation


_CLOSE_SQL = """
WITH closed AS (
    UPDATE billing_reservation SET status = %(status)s, closed_at = %(now)s
    WHERE status = 'open' AND {condition}
    RETURNING account_id, amount
), totals AS (
    SELECT account_id, SUM(amount) AS total FROM closed GROUP BY account_id
)
UPDATE billing_creditaccount a SET reserved = a.reserved - totals.total
FROM totals WHERE a.id = totals.account_id
"""


def _close(condition: str, params: dict, status: str) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _CLOSE_SQL.format(condition=condition),
            {**params, "status": status, "now": timezone.now()},
        )
        return cursor.rowcount


def reservations_close(*, codes: list[str], status: str) -> int:
    """Settle (its usage record came) or release reservations; closing twice changes nothing.
    Accounts whose reservations close are updated by the same statement."""
    if not codes:
        return 0
    return _close("code = ANY(%(codes)s)", {"codes": list(codes)}, status)


def reservations_release_expired(now: datetime | None = None) -> int:
    """One statement: every open reservation past its expiry is released (the minute task)."""
    return _close(
        "expires_at <= %(cutoff)s", {"cutoff": now or timezone.now()}, Reservation.Status.RELEASED
    )
