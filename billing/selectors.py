"""Reads shared by the pages and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, When
from django.utils import timezone

from billing.models import CreditAccount, FundLot, Invoice, LedgerEntry
from billing.services.reservations import available

EXPIRING_SOON = timedelta(days=30)


@dataclass
class AccountSummary:
    account: CreditAccount
    balance: Decimal
    available: Decimal
    lots: list[FundLot]
    expiring_soon: Decimal


def active_lots(account: CreditAccount) -> QuerySet[FundLot]:
    """The unexpired lots with something left, oldest first (the order they are drawn in)."""
    return FundLot.objects.filter(
        account=account, expired_at__isnull=True, remaining__gt=0, expires_at__gt=timezone.now()
    ).order_by("purchased_at", "id")


def account_summary(account: CreditAccount) -> AccountSummary:
    lots = list(active_lots(account).select_related("invoice"))
    soon = timezone.now() + EXPIRING_SOON
    for lot in lots:
        lot.expiring_soon = lot.expires_at <= soon
    return AccountSummary(
        account=account,
        balance=account.balance,
        available=available(account),
        lots=lots,
        expiring_soon=sum((lot.remaining for lot in lots if lot.expiring_soon), Decimal(0)),
    )


def ledger_entries(account: CreditAccount, kind: str | None = None) -> QuerySet[LedgerEntry]:
    """The history as the pages show it, newest first. A purchase that pays earlier debt posts
    two usage rows (the lot's `-settle` and the lotless `+settle`, both under the purchase's
    reference); they show as one line: `debt_paid` on the lot's row, with `shown_balance_after`
    the balance after both. The rows themselves stay, and the API lists every one."""
    Kind = LedgerEntry.Kind
    settles_debt = Q(kind=Kind.USAGE, lot__isnull=False, reference=F("lot__reference"))
    entries = (
        LedgerEntry.objects.filter(account=account)
        .exclude(
            Exists(FundLot.objects.filter(account=account, reference=OuterRef("reference"))),
            kind=Kind.USAGE,
            lot__isnull=True,
            amount__gt=0,
        )
        .annotate(
            debt_paid=Case(When(settles_debt, then=-F("amount")), default=None),
            shown_balance_after=Case(
                When(settles_debt, then=F("balance_after") - F("amount")),
                default=F("balance_after"),
            ),
        )
        .select_related("lot")
        .order_by("-id")
    )
    return entries.filter(kind=kind) if kind else entries


def invoices(account: CreditAccount) -> QuerySet[Invoice]:
    return (
        Invoice.objects.filter(account=account)
        .select_related("account__organisation", "agreement")
        .order_by("-number")
    )
