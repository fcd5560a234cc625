"""The ledger: adding funds as lots, drawing them first in first out, expiring them, verifying.

Every function that changes money takes the account's row lock first (`lock_account`); all
writers go through here, so that lock serialises the balance, the debt, the lots and the entries
of one account. Each change is idempotent by its `reference`: posting the same cause twice
returns what the first posting made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from dateutil.relativedelta import relativedelta
from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from billing.exceptions import BillingError, NoCredits
from billing.models import CreditAccount, FundLot, Invoice, LedgerEntry
from credits_portal.db import copy_rows
from credits_portal.models import Organisation

EXPIRY = relativedelta(months=12)
Kind = LedgerEntry.Kind


def _check_amount(amount: Decimal) -> None:
    if not isinstance(amount, Decimal):
        raise TypeError(f"Money is a Decimal, not {type(amount).__name__}.")
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"A ledger amount must be positive, not {amount}.")


def _locking():
    # The row lock that every change to this account's money holds until its transaction ends.
    return CreditAccount.objects.select_for_update(of=("self",)).select_related("organisation")


def lock_account(account: CreditAccount) -> CreditAccount:
    return _locking().get(pk=account.pk)


def lock_account_of(organisation: Organisation) -> CreditAccount:
    """The organisation's account, locked, in one query (the call path needs no prior read)."""
    return _locking().get(organisation=organisation)


class _Entry(NamedTuple):
    kind: str
    amount: Decimal
    lot_id: int | None
    balance_after: Decimal
    seq: int
    description: str


_ENTRY_FIELDS = ("account_id", "reference", "actor", "at", *_Entry._fields)


class _Posting:
    """The entries of one cause, numbered, with the running balance after each (plain rows: a
    batch of a thousand calls builds thousands)."""

    def __init__(self, account: CreditAccount, reference: str, actor: str, at: datetime) -> None:
        self.account, self.reference, self.actor, self.at = account, reference, actor, at
        self.entries: list[_Entry] = []

    def post(self, kind: str, amount: Decimal, lot: FundLot | None, description: str) -> None:
        self.account.balance += amount
        if lot is None:
            self.account.debt -= amount
        self.entries.append(
            _Entry(
                kind,
                amount,
                None if lot is None else lot.pk,
                self.account.balance,
                len(self.entries),
                description[:200],
            )
        )

    def rows(self) -> list[tuple]:
        head = (self.account.pk, self.reference, self.actor, self.at)
        return [head + entry for entry in self.entries]

    def save(self) -> list[LedgerEntry]:
        entries = LedgerEntry.objects.bulk_create(
            [LedgerEntry(**dict(zip(_ENTRY_FIELDS, row, strict=True))) for row in self.rows()]
        )
        self.account.save(update_fields=["balance", "debt"])
        return entries


def account_for(organisation: Organisation) -> CreditAccount:
    return CreditAccount.objects.select_related("organisation").get(organisation=organisation)


def account_open(*, organisation: Organisation) -> CreditAccount:
    """The organisation's credit account in its billing currency, balance 0, auto-recharge off."""
    account, _ = CreditAccount.objects.get_or_create(
        organisation=organisation, defaults={"currency": organisation.currency}
    )
    return account


def lot_add(
    *,
    account: CreditAccount,
    amount: Decimal,
    source: str,
    kind: str,
    reference: str,
    purchased_at: datetime | None = None,
    invoice_issuer=None,
    actor: str = "",
    description: str = "",
) -> FundLot:
    """A lot of `amount` expiring 12 months after `purchased_at`; it pays any debt first.

    `invoice_issuer(account)`, when given, issues the invoice inside the same transaction so the
    lot, its entries and its invoice exist together or not at all. Idempotent by `reference`.
    """
    _check_amount(amount)
    now = timezone.now()
    purchased_at = purchased_at or now
    with transaction.atomic():
        account = lock_account(account)
        existing = FundLot.objects.filter(account=account, reference=reference).first()
        if existing is not None:
            return existing
        NoCredits.unless_held(account.organisation, conflict=False)
        if purchased_at > now:
            raise BillingError("The purchase time cannot be in the future.", field="purchased_at")
        if purchased_at + EXPIRY <= now:
            raise BillingError(
                "Funds purchased then would already have expired (12 months).", field="purchased_at"
            )
        invoice: Invoice | None = invoice_issuer(account) if invoice_issuer else None
        lot = FundLot.objects.create(
            account=account,
            source=source,
            amount=amount,
            remaining=amount,
            purchased_at=purchased_at,
            expires_at=purchased_at + EXPIRY,
            reference=reference,
            invoice=invoice,
        )
        posting = _Posting(account, reference, actor, now)
        posting.post(kind, amount, lot, description or lot.get_source_display())
        settle = min(account.debt, amount)
        if settle > 0:
            # Debt first: move what the lot pays from it onto the lotless debt entries.
            lot.remaining -= settle
            lot.save(update_fields=["remaining"])
            posting.post(Kind.USAGE, -settle, lot, "Earlier usage paid from this lot")
            posting.post(Kind.USAGE, settle, None, "Debt paid")
        posting.save()
        credited.send(sender=CreditAccount, account=account)
        return lot


def _active_lots(account: CreditAccount) -> list[FundLot]:
    # An account holds a few active lots, not thousands: oldest purchase first.
    return list(
        FundLot.objects.filter(account=account, expired_at__isnull=True, remaining__gt=0).order_by(
            "purchased_at", "id"
        )
    )


def _draw(
    posting: _Posting,
    lots: list[FundLot],
    touched: dict[int, FundLot],
    amount: Decimal,
    kind: str,
    description: str,
) -> Decimal:
    """Post `amount` against `lots` first in, first out, one entry per lot drawn; what they
    cannot cover is a lotless (debt) entry. Lots drawn go into `touched`. What was not covered."""
    left = amount
    for lot in lots:
        if left == 0:
            break
        take = min(lot.remaining, left)
        if take:
            lot.remaining -= take
            touched[lot.pk] = lot
            posting.post(kind, -take, lot, description)
            left -= take
    if left > 0:
        posting.post(kind, -left, None, (description + " (not covered: debt)").strip())
    return left


@dataclass
class Debit:
    entries: list[LedgerEntry]
    balance: Decimal
    uncovered: Decimal  # what no lot could cover: added to the debt

    @property
    def amount(self) -> Decimal:
        return -sum((e.amount for e in self.entries), Decimal(0))


def funds_debit(
    *,
    account: CreditAccount,
    amount: Decimal,
    reference: str,
    kind: str = Kind.USAGE,
    description: str = "",
    actor: str = "",
) -> Debit:
    """Draw `amount` from the lots, oldest purchase first, one entry per lot touched.

    What the lots cannot cover is recorded as debt (a call that already happened cannot be
    undone); the next purchase pays it first. Idempotent by `reference`.
    """
    _check_amount(amount)
    now = timezone.now()
    with transaction.atomic():
        account = lock_account(account)
        done = list(
            LedgerEntry.objects.filter(account=account, reference=reference).order_by("seq")
        )
        if done:
            uncovered = -sum((e.amount for e in done if e.lot_id is None), Decimal(0))
            return Debit(done, account.balance, uncovered)
        _expire_due(now, account_ids=[account.pk])
        account.refresh_from_db(fields=["balance", "debt"])
        posting = _Posting(account, reference, actor, now)
        drawn: dict[int, FundLot] = {}
        left = _draw(posting, _active_lots(account), drawn, amount, kind, description)
        FundLot.objects.bulk_update(list(drawn.values()), ["remaining"])
        balance_before = account.balance + amount
        entries = posting.save()
        _after_debit(account, balance_before)
        return Debit(entries, account.balance, left)


# Sent after a debit is written, inside its transaction and under the account's lock: the
# ledger only announces; the app wires what follows (billing.signals: a recharge when below the
# trigger, an email on reaching zero), so the foundation imports nothing above it.
debited = Signal()
# Sent after a lot is added, inside its transaction and under the account's lock (the alerts
# the balance is back above re-arm).
credited = Signal()


def _after_debit(account: CreditAccount, balance_before: Decimal) -> None:
    debited.send(sender=CreditAccount, account=account, balance_before=balance_before)


_EXPIRE_SQL = """
WITH due AS (
    SELECT l.id, l.account_id, l.remaining, l.code,
           a.balance - SUM(l.remaining) OVER (
               PARTITION BY l.account_id ORDER BY l.purchased_at, l.id
           ) AS balance_after
    FROM billing_fundlot l
    JOIN billing_creditaccount a ON a.id = l.account_id
    WHERE l.expired_at IS NULL AND l.expires_at <= %(now)s AND l.account_id = ANY(%(accounts)s)
), entries AS (
    INSERT INTO billing_ledgerentry
        (account_id, kind, amount, lot_id, balance_after, reference, seq, description, actor, at)
    SELECT account_id, 'expiry', -remaining, id, balance_after, 'expiry:' || code::text, 0,
           'Expired 12 months after purchase', '', %(now)s
    FROM due WHERE remaining > 0
    RETURNING id
), lots AS (
    UPDATE billing_fundlot l SET remaining = 0, expired_at = %(now)s
    FROM due WHERE l.id = due.id
    RETURNING l.id
), accounts AS (
    UPDATE billing_creditaccount a SET balance = a.balance - s.total
    FROM (SELECT account_id, SUM(remaining) AS total FROM due GROUP BY account_id) s
    WHERE a.id = s.account_id
    RETURNING a.id
)
SELECT (SELECT count(*) FROM lots), (SELECT count(*) FROM entries)
"""


def _expire_due(now: datetime, *, account_ids: list[int]) -> int:
    """Expire the due lots of accounts whose row locks the caller holds; one statement."""
    with connection.cursor() as cursor:
        cursor.execute(_EXPIRE_SQL, {"now": now, "accounts": account_ids})
        return cursor.fetchone()[0]


def funds_expire(*, now: datetime | None = None, batch: int = 500) -> int:
    """Expire every lot whose 12 months have passed, set-based, `batch` accounts a transaction.

    Each expired lot gets one `expiry` entry for exactly what it had left. Safe to run twice and
    beside debits: accounts are locked in id order, as every other writer locks one account.
    """
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            account_ids = list(
                CreditAccount.objects.select_for_update()
                .filter(
                    pk__in=FundLot.objects.filter(
                        expired_at__isnull=True, expires_at__lte=now
                    ).values("account_id")
                )
                .order_by("pk")
                .values_list("pk", flat=True)[:batch]
            )
            if not account_ids:
                return expired
            expired += _expire_due(now, account_ids=account_ids)


@dataclass
class DebitLine:
    amount: Decimal
    reference: str
    description: str = ""


def funds_debit_many(
    *, account: CreditAccount, lines: list[DebitLine], kind: str = Kind.USAGE
) -> Decimal:
    """Many debits in one transaction (a batch of rated calls): one entry per lot touched per
    line, inserted together. The caller holds the account's lock and has made each reference new
    (the usage record it belongs to was just inserted). The balance after."""
    now = timezone.now()
    _expire_due(now, account_ids=[account.pk])
    account.refresh_from_db(fields=["balance", "debt"])
    balance_before = account.balance
    lots = _active_lots(account)
    rows: list[tuple] = []
    touched: dict[int, FundLot] = {}
    for line in lines:
        _check_amount(line.amount)
        posting = _Posting(account, line.reference, "", now)
        _draw(posting, lots, touched, line.amount, kind, line.description)
        rows += posting.rows()
    copy_rows(LedgerEntry, _ENTRY_FIELDS, rows)
    FundLot.objects.bulk_update(list(touched.values()), ["remaining"])
    account.save(update_fields=["balance", "debt"])
    _after_debit(account, balance_before)
    return account.balance
