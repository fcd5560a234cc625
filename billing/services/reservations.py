"""Reservations: funds held by allowed credit-funded calls, so concurrent calls never together
spend more than the available balance (balance less what open reservations hold).

`CreditAccount.reserved` is the sum of the account's open reservations, kept with every change
under the account's row lock, so the call path checks the available amount without summing rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from billing.models import CreditAccount, Reservation


def available(account: CreditAccount) -> Decimal:
    return max(account.balance - account.reserved, Decimal(0))


@dataclass
class Hold:
    """The organisation's account, locked for this transaction, and what it has available."""

    organisation_id: int
    available: Decimal


# A reservation is a hold, not money: its commit need not wait for the disk flush. A database
# crash can lose the last fraction of a second of holds, atomically and consistently (`reserved`
# always equals its open reservations); their calls are still charged by their usage records, at
# worst into debt, which DESIGN.md already allows. Every ledger posting stays fully durable.
# Only set in a transaction of our own: never relax a caller's transaction that may move money.
_RELAXED = "set_config('synchronous_commit', 'off', true)"


def relaxed_commit() -> str:
    """SQL that relaxes the commit of this statement's own transaction (NULL inside a caller's):
    for holds, minute holds included, never for the ledger."""
    return "NULL" if connection.in_atomic_block else _RELAXED


@contextmanager
def account_held(organisation_id: int) -> Iterator[Hold]:
    """A transaction holding the account's row lock, so that "check available, then reserve" is
    one step for concurrent calls. Plain SQL: this runs on every credit-funded call."""
    relaxed = relaxed_commit()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT balance - reserved, {relaxed}"  # noqa: S608  (no values in the text)
            " FROM billing_creditaccount WHERE organisation_id = %s FOR UPDATE",
            [organisation_id],
        )
        funds, _ = cursor.fetchone()
        yield Hold(organisation_id, max(funds, Decimal(0)))


_HOLD_IF_AVAILABLE_SQL = """
WITH held AS (
    UPDATE billing_creditaccount SET reserved = reserved + %(amount)s
    WHERE organisation_id = %(organisation)s AND balance - reserved >= %(amount)s
    RETURNING id, {relaxed}
)
INSERT INTO billing_reservation (code, account_id, amount, status, created_at, expires_at)
SELECT %(code)s, id, %(amount)s, 'open', %(now)s, %(expires_at)s FROM held
"""


def reservation_open_if_available(
    *, organisation_id: int, code: str, amount: Decimal, expires_at: datetime
) -> bool:
    """Hold `amount` when the account has that much available, in one statement; False, holding
    nothing, when it has not. The UPDATE takes the account's row lock and PostgreSQL checks its
    condition again on the row as the previous holder left it, so concurrent holds never
    together exceed the available balance."""
    if not amount > 0:
        raise ValueError(f"Cannot reserve {amount}.")
    with connection.cursor() as cursor:
        cursor.execute(
            _HOLD_IF_AVAILABLE_SQL.format(relaxed=relaxed_commit()),
            {
                "amount": amount,
                "organisation": organisation_id,
                "code": code,
                "now": timezone.now(),
                "expires_at": expires_at,
            },
        )
        return cursor.rowcount == 1


def reservation_open(*, hold: Hold, code: str, amount: Decimal, expires_at: datetime) -> None:
    """Hold `amount` for a call inside `account_held` (no more than `hold.available`)."""
    if not Decimal(0) < amount <= hold.available:
        raise ValueError(f"Cannot reserve {amount} of {hold.available} available.")
    held = reservation_open_if_available(
        organisation_id=hold.organisation_id, code=code, amount=amount, expires_at=expires_at
    )
    if not held:  # cannot happen under the account's lock with the amount available
        raise RuntimeError(f"Reservation {code} was not made.")
    hold.available -= amount


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


def reservations_close(*, account: CreditAccount, codes: list[str], status: str) -> int:
    """Settle (its usage record came) or release the account's reservations with these codes;
    closing twice changes nothing. The account is updated by the same statement."""
    if not codes:
        return 0
    return _close(
        "account_id = %(account)s AND code = ANY(%(codes)s)",
        {"account": account.pk, "codes": list(codes)},
        status,
    )


# The accounts first, as every other closer takes them (under the account's lock): a reservation
# locked before its account would deadlock with an ingest that holds the account and settles it.
# An account locked now is skipped: its expired reservations are released by the next run.
_EXPIRED = """
account_id IN (
    SELECT id FROM billing_creditaccount
    WHERE id IN (SELECT account_id FROM billing_reservation
                 WHERE status = 'open' AND expires_at <= %(cutoff)s)
    ORDER BY id FOR UPDATE SKIP LOCKED
) AND expires_at <= %(cutoff)s"""


def reservations_release_expired(now: datetime | None = None) -> int:
    """One statement: every open reservation past its expiry is released (the minute task)."""
    return _close(_EXPIRED, {"cutoff": now or timezone.now()}, Reservation.Status.RELEASED)
