"""Settings › Alerts: low-balance thresholds in money and one in days of runway, each firing once
per episode to the billing contacts (an email) and to the organisation's tools (an event,
`balance.low` or `runway.low`, that the webhooks deliver).

An alert fires when the balance is below its threshold and it has not fired since the balance was
last at or above it; it re-arms when the balance is back at or above. A runway of `days` is
below its threshold when the balance is less than `days` × the planner's spend rate, which usage
computes and stores on the alert (`alerts_refresh`): billing never imports the planner.

The state is checked under the account's row lock wherever the balance moves: after every debit
and every credit (billing.signals, inside the ledger's transaction), when the settings are saved,
and by the periodic sweep that refreshes the spend rate. So fifty debits that cross a threshold
together fire it once: the first, holding the lock, marks it fired and the others find it so.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from billing.alert_models import RUNWAY_DAYS_MAX, AlertKind, BalanceAlert, BalanceAlertSent
from billing.exceptions import BillingError, NoCredits
from billing.models import CreditAccount
from billing.money import format_money, parse_amount, quantum
from billing.services.ledger import lock_account
from billing.services.notifications import notify_later, recipients, site_url
from credits_portal.events import publish

MAX_LOW_BALANCE = 5
DEFAULT_RUNWAY_DAYS = 7  # a new organisation's one alert: a week of credits left at its pace
HISTORY_SHOWN = 50

# Sent after the settings are saved and committed (organisation=): usage refreshes the runway's
# spend rate at once rather than at its next sweep.
alerts_changed = Signal()


@dataclass(frozen=True)
class AlertSettings:
    low_balance: list[Decimal]  # highest first
    runway_days: int | None


def alert_settings(account: CreditAccount) -> AlertSettings:
    alerts = list(BalanceAlert.objects.filter(account=account))
    return AlertSettings(
        low_balance=sorted(
            (a.amount for a in alerts if a.kind == AlertKind.LOW_BALANCE), reverse=True
        ),
        runway_days=next((a.days for a in alerts if a.kind == AlertKind.RUNWAY), None),
    )


def _clean_amounts(values: object, currency: str, errors: dict[str, list[str]]) -> list[Decimal]:
    problems = errors.setdefault("low_balance", [])
    if not isinstance(values, list | tuple):
        problems.append("A list of amounts.")
        return []
    if len(values) > MAX_LOW_BALANCE:
        problems.append(f"At most {MAX_LOW_BALANCE} thresholds (there are {len(values):,}).")
        return []
    amounts: list[Decimal] = []
    for position, value in enumerate(values, start=1):
        try:
            if not isinstance(value, str | Decimal):
                raise BillingError("Enter an amount such as 50 or 1,250.00.")
            amount = parse_amount(value, currency, field="low_balance")
        except BillingError as exc:
            problems.append(f"Threshold {position}: {exc.message}")
            continue
        if amount in amounts:
            problems.append(f"{format_money(amount, currency)} is listed twice.")
            continue
        amounts.append(amount)
    return sorted(amounts, reverse=True)


def _clean_days(value: object, errors: dict[str, list[str]]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.setdefault("runway_days", []).append("A whole number of days, or none.")
        return None
    if not 1 <= value <= RUNWAY_DAYS_MAX:
        errors.setdefault("runway_days", []).append(
            f"Between 1 and {RUNWAY_DAYS_MAX} days, or none."
        )
        return None
    return value


def alert_settings_clean(
    *, account: CreditAccount, low_balance: object, runway_days: object
) -> AlertSettings:
    """The settings, or a BillingError naming every invalid field (`errors`)."""
    NoCredits.unless_held(account.organisation, field="low_balance")
    errors: dict[str, list[str]] = {}
    amounts = _clean_amounts(low_balance, str(account.currency), errors)
    days = _clean_days(runway_days, errors)
    errors = {field: messages for field, messages in errors.items() if messages}
    if errors:
        field, messages = next(iter(errors.items()))
        raise BillingError(messages[0], field=field, errors=errors)
    return AlertSettings(low_balance=amounts, runway_days=days)


def alert_settings_save(
    *, account: CreditAccount, low_balance: object, runway_days: object
) -> AlertSettings:
    """Replace the account's thresholds. A threshold kept keeps its episode (no second email);
    a new one the balance is already below fires now."""
    wanted = alert_settings_clean(account=account, low_balance=low_balance, runway_days=runway_days)
    with transaction.atomic():
        locked = lock_account(account)
        alerts = BalanceAlert.objects.filter(account=locked)
        alerts.filter(kind=AlertKind.LOW_BALANCE).exclude(amount__in=wanted.low_balance).delete()
        kept = set(alerts.filter(kind=AlertKind.LOW_BALANCE).values_list("amount", flat=True))
        BalanceAlert.objects.bulk_create(
            BalanceAlert(account=locked, kind=AlertKind.LOW_BALANCE, amount=amount)
            for amount in wanted.low_balance
            if amount not in kept
        )
        runway = alerts.filter(kind=AlertKind.RUNWAY)
        if wanted.runway_days is None:
            runway.delete()
        elif not runway.update(days=wanted.runway_days):
            BalanceAlert.objects.create(
                account=locked, kind=AlertKind.RUNWAY, days=wanted.runway_days
            )
        _check(locked, now=timezone.now())
        organisation = locked.organisation
        transaction.on_commit(lambda: alerts_changed.send(sender=None, organisation=organisation))
    return wanted


def alerts_default(*, account: CreditAccount) -> None:
    """A new organisation that holds credits is told when a week of credits is left at its pace
    (an amount would mean nothing across currencies); the zero-balance email is always sent."""
    if account.organisation.holds_credits:
        BalanceAlert.objects.get_or_create(
            account=account, kind=AlertKind.RUNWAY, defaults={"days": DEFAULT_RUNWAY_DAYS}
        )


def alerts_refresh(
    *, account: CreditAccount, daily_spend: Decimal | None = None, now: datetime | None = None
) -> list[BalanceAlertSent]:
    """Check the account's alerts now (the periodic sweep: expiry lowers the balance without a
    debit), first storing the planner's spend rate (credits a day) on the runway alert when
    given. What fired."""
    if daily_spend is not None and (not isinstance(daily_spend, Decimal) or daily_spend < 0):
        raise ValueError(f"A spend rate is a Decimal of 0 or more, not {daily_spend!r}.")
    now = now or timezone.now()
    with transaction.atomic():
        locked = lock_account(account)
        if daily_spend is not None:
            BalanceAlert.objects.filter(account=locked, kind=AlertKind.RUNWAY).update(
                daily_spend=daily_spend, daily_spend_at=now
            )
        return _check(locked, now=now)


def alerts_check(
    *, account: CreditAccount, balance_before: Decimal | None = None
) -> list[BalanceAlertSent]:
    """After the balance moved, inside the transaction that moved it and under the account's row
    lock, which the caller holds (the ledger's debit and credit). `balance_before`: what it was
    before this change (a threshold it was at or above is crossed again). What fired."""
    return _check(account, balance_before=balance_before, now=timezone.now())


def _threshold(alert: BalanceAlert) -> Decimal | None:
    """The balance below which the alert is due; None when it cannot be (nothing is spent)."""
    if alert.kind == AlertKind.LOW_BALANCE:
        return alert.amount
    if not alert.daily_spend:
        return None
    return alert.daily_spend * alert.days


def _check(
    account: CreditAccount, *, now: datetime, balance_before: Decimal | None = None
) -> list[BalanceAlertSent]:
    alerts = list(BalanceAlert.objects.filter(account=account))
    if not alerts:
        return []
    balance = account.balance
    rearm: list[int] = []
    due: list[BalanceAlert] = []
    for alert in alerts:
        threshold = _threshold(alert)
        before = balance if balance_before is None else balance_before
        was_above = threshold is None or max(balance, before) >= threshold
        if alert.fired_at is not None and was_above:
            rearm.append(alert.pk)
            alert.fired_at = None
        if alert.fired_at is None and threshold is not None and balance < threshold:
            due.append(alert)
    if rearm:
        BalanceAlert.objects.filter(pk__in=rearm).update(fired_at=None)
    fired = []
    for alert in due:
        # Conditional: the alert fires for whoever marks it, once per episode.
        if BalanceAlert.objects.filter(pk=alert.pk, fired_at__isnull=True).update(fired_at=now):
            fired.append(_fire(account, alert, now))
    return fired


def _fire(account: CreditAccount, alert: BalanceAlert, now: datetime) -> BalanceAlertSent:
    currency = str(account.currency)
    to = recipients(account)
    code = uuid.uuid4()
    money = account.balance.quantize(quantum(currency))
    sent = BalanceAlertSent(
        code=code,
        account=account,
        alert=alert,
        kind=alert.kind,
        amount=alert.amount,
        days=alert.days,
        balance=money,
        recipients=", ".join(to)[:1000],
        sent_at=now,
    )
    context = {
        "balance": format_money(account.balance, currency),
        "alerts_url": site_url("billing:alerts"),
    }
    data = {"balance": str(money), "currency": currency}
    if alert.kind == AlertKind.LOW_BALANCE:
        event_type, kind = "balance.low", "balance_low"
        threshold = str(alert.amount.quantize(quantum(currency)))
        context["threshold"] = format_money(alert.amount, currency)
        data["threshold"] = threshold
    else:
        event_type, kind = "runway.low", "runway_low"
        threshold = str(alert.days)
        sent.daily_spend = alert.daily_spend
        sent.days_left = max(int(account.balance / alert.daily_spend), 0)
        context.update(
            days=str(alert.days),
            days_left=str(sent.days_left),
            daily_spend=format_money(alert.daily_spend, currency),
        )
        data.update(
            runway_days=alert.days,
            days_left=sent.days_left,
            daily_spend=str(alert.daily_spend.quantize(quantum(currency))),
        )
    # One key per episode (this row's code): a retried check that finds the alert fired sends
    # nothing, and a delivery repeated downstream is recognised by it.
    sent.key = f"{event_type}:{account.pk}:{threshold}:{code}"
    sent.save()
    notify_later(account=account, kind=kind, **context)
    publish(
        organisation_id=account.organisation_id,
        type=event_type,
        key=sent.key,
        data={**data, "sent_at": now.isoformat().replace("+00:00", "Z")},
    )
    return sent


def alerts_sent(account: CreditAccount, limit: int = HISTORY_SHOWN) -> list[BalanceAlertSent]:
    """The alerts sent, newest first: the last `limit`."""
    return list(BalanceAlertSent.objects.filter(account=account).order_by("-id")[:limit])
