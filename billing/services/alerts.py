"""What needs the admin's attention about the credits, at the top of Home and the Credits page:
one list, computed here, each alert with the action that resolves it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Min, Sum
from django.utils import timezone

from billing.models import CreditAccount, RechargeAttempt
from billing.money import format_money
from billing.selectors import EXPIRING_SOON, active_lots


@dataclass(frozen=True)
class Alert:
    kind: str  # a stable name, for tests and the page's anchors
    level: str  # "danger" (calls are stopped), "warning" (soon), "info"
    message: str
    action: str  # the link's text
    url: str  # a URL name, reversed by the template
    anchor: str = ""


def _money(amount: Decimal, account: CreditAccount) -> str:
    return format_money(amount, str(account.currency))


def _balance_alert(account: CreditAccount) -> Alert | None:
    if account.balance < 0:
        return Alert(
            "debt",
            "danger",
            f"The balance is {_money(account.balance, account)}: calls paid from credits are "
            "stopped until funds are added, and the next purchase pays what is owed first.",
            "Add funds",
            "billing:add_funds",
        )
    if account.balance == 0:
        return Alert(
            "zero",
            "danger",
            "The balance is zero: calls paid from credits (toll-free, international, minutes past "
            "the plans) are refused.",
            "Add funds",
            "billing:add_funds",
        )
    trigger = account.recharge_trigger
    if account.auto_recharge_enabled and trigger is not None and account.balance < trigger:
        return Alert(
            "below_trigger",
            "warning",
            f"The balance of {_money(account.balance, account)} is below the auto-recharge "
            f"trigger of {_money(trigger, account)}; a recharge is due.",
            "Review auto-recharge",
            "billing:credits",
            "#ar-h",
        )
    return None


def _recharge_alert(account: CreditAccount) -> Alert | None:
    by_card = account.recharge_method == CreditAccount.RechargeMethod.CARD
    fix, url = (
        ("Update the card", "billing:card_replace")
        if by_card
        else (
            "Payment methods",
            "billing:payment_methods",
        )
    )
    if account.recharge_suspended_at:
        return Alert(
            "recharge_suspended",
            "danger",
            "Auto-recharge is suspended since "
            f"{account.recharge_suspended_at:%Y-%m-%d %H:%M} UTC: "
            f"{account.recharge_suspended_reason or 'the recharges failed'}.",
            fix,
            url,
        )
    if not account.auto_recharge_enabled:
        return None
    last = (
        RechargeAttempt.objects.filter(account=account)
        .exclude(status__in=RechargeAttempt.IN_FLIGHT)
        .first()
    )
    if last is not None and last.status == RechargeAttempt.Status.FAILED:
        reason = last.failure_message or "the payment failed"
        if last.failure_code:
            reason += f" ({last.failure_code})"
        retry = (
            f" The next try is after {account.recharge_retry_after:%Y-%m-%d %H:%M} UTC."
            if account.recharge_retry_after
            else ""
        )
        return Alert(
            "recharge_failed",
            "danger",
            f"The last recharge, {last.created_at:%Y-%m-%d %H:%M} UTC, failed: {reason}.{retry}",
            fix,
            url,
        )
    return None


def _expiry_alert(account: CreditAccount, now: datetime) -> Alert | None:
    soon = active_lots(account).filter(expires_at__lte=now + EXPIRING_SOON)
    found = soon.aggregate(total=Sum("remaining"), first=Min("expires_at"))
    if not found["total"]:
        return None
    return Alert(
        "expiring",
        "warning",
        f"{_money(found['total'], account)} expires within 30 days (the first on "
        f"{found['first']:%Y-%m-%d}); funds are used oldest first, and what is left at expiry "
        "is lost.",
        "See the funds",
        "billing:credits",
        "#lots-h",
    )


def account_alerts(account: CreditAccount, *, now: datetime | None = None) -> list[Alert]:
    """The credit account's alerts, most urgent first; none for an organisation that holds no
    credits (new commerce), and none when all is well."""
    if not account.organisation.holds_credits:
        return []
    now = now or timezone.now()
    found = [
        _balance_alert(account),
        _recharge_alert(account),
        _expiry_alert(account, now),
    ]
    return [alert for alert in found if alert is not None]
