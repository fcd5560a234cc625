"""Monthly statements: opening balance + purchases + recharges + adjustments + refunds − usage −
expired = closing balance, every figure summed from the ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from django.db.models import Sum

from billing.models import CreditAccount, Invoice, LedgerEntry

Kind = LedgerEntry.Kind


@dataclass
class Statement:
    account: CreditAccount
    month: date
    opening: Decimal
    by_kind: dict[str, Decimal]
    closing: Decimal
    # Every invoice issued in the month, overage (billed after use, outside the ledger) included.
    invoices: list[Invoice] = field(default_factory=list)

    @property
    def overage(self) -> Decimal:
        return sum((i.total for i in self.invoices if i.kind == Invoice.Kind.OVERAGE), Decimal(0))

    @property
    def lines(self) -> list[tuple[str, Decimal]]:
        return [
            ("Opening balance", self.opening),
            ("Purchases", self.by_kind[Kind.PURCHASE]),
            ("Auto-recharges", self.by_kind[Kind.RECHARGE]),
            ("Adjustments and grants", self.by_kind[Kind.ADJUSTMENT]),
            ("Refunds", self.by_kind[Kind.REFUND]),
            ("Usage", self.by_kind[Kind.USAGE]),
            ("Expired", self.by_kind[Kind.EXPIRY]),
            ("Closing balance", self.closing),
        ]


def _month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _balance_before(account: CreditAccount, moment: datetime) -> Decimal:
    last = LedgerEntry.objects.filter(account=account, at__lt=moment).order_by("-id").first()
    return last.balance_after if last else Decimal(0)


def statement_for(account: CreditAccount, month: date) -> Statement:
    start, end = _month_bounds(month)
    sums = dict(
        LedgerEntry.objects.filter(account=account, at__gte=start, at__lt=end)
        .values("kind")
        .annotate(total=Sum("amount"))
        .values_list("kind", "total")
    )
    by_kind = {kind: sums.get(kind) or Decimal(0) for kind in Kind.values}
    opening, closing = _balance_before(account, start), _balance_before(account, end)
    if opening + sum(by_kind.values()) != closing:
        raise ValueError(f"The ledger does not tie out for {month:%Y-%m}: run verify_ledger.")
    issued = list(
        Invoice.objects.filter(account=account, issued_at__gte=start, issued_at__lt=end)
        .select_related("account__organisation")
        .order_by("number")
    )
    return Statement(account, month, opening, by_kind, closing, issued)
