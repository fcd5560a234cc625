"""Auto-recharge: deciding when one is due, and running it so it charges exactly once.

Its settings (amounts, the method, the preview of what saving charges) are `recharge_settings`.

A recharge is a `RechargeAttempt` row, committed before the gateway is called (a partial unique
index allows one in flight per account). Card recharges are off-session gateway payments whose
idempotency key is the attempt's code and whose metadata names it; before creating one we look
for one of the account's customer already made for the attempt, since `localstripe` (and Stripe
after 24 hours) would otherwise make a second. The success is recorded by
`billing.services.payments`, whose lot reference is the gateway payment's id, so the worker, a
retry and the webhook can all record it and only one lot results.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from billing import gateway
from billing.exceptions import AgreementNotRegistered, CreditLimitExceeded
from billing.gateway import GatewayPayment, PaymentStatus
from billing.models import Card, CreditAccount, Invoice, RechargeAttempt
from billing.money import amount_text, format_money, to_minor_units
from billing.services import payments
from billing.services.agreements import agreement_invoice_issue
from billing.services.cards import card_current, customer_ensure
from billing.services.ledger import lock_account
from billing.services.notifications import notify_later
from credits_portal.celery import enqueue_on_commit
from credits_portal.events import publish

log = logging.getLogger(__name__)
Status = RechargeAttempt.Status
Method = CreditAccount.RechargeMethod

# Declines that retrying cannot fix: the card must be replaced (or authenticated by its owner).
HARD_DECLINES = {
    "authentication_required",
    "expired_card",
    "incorrect_number",
    "invalid_account",
    "lost_card",
    "stolen_card",
    "pickup_card",
    "restricted_card",
    "fraudulent",
    "card_not_supported",
    "currency_not_supported",
    "do_not_honor",
    "revocation_of_authorization",
}
# The recharge task's time limit (billing.tasks): a worker still at it past this was killed.
RECHARGE_TIME_LIMIT = 50  # seconds
# A worker holds an attempt this long; past it (the task's time limit is shorter) the worker is
# gone and the next run or the sweep, every minute, takes the attempt over: a recharge
# interrupted by a killed worker is finished within two minutes of its start.
LEASE = timedelta(seconds=RECHARGE_TIME_LIMIT + 10)


def recharge_method_ready(account: CreditAccount) -> bool:
    if account.recharge_method == Method.AGREEMENT:
        # Only an agreement the operator registered pays; a request pays for nothing.
        return account.recharge_agreement is not None and account.recharge_agreement.is_active
    return card_current(account) is not None


# --- When one is due ---------------------------------------------------------------------------


class NotDue(models.TextChoices):
    """Why no recharge is due now."""

    OFF = "off", "Auto-recharge is off"
    SUSPENDED = "suspended", "Suspended"
    ABOVE_TRIGGER = "above_trigger", "The balance is at or above the trigger"
    BACKING_OFF = "backing_off", "Waiting after a decline"
    PAUSED = "paused", "Paused: the most recharges allowed in 24 hours have run"
    NO_METHOD = "no_method", "No saved card or agreement to pay with"


@dataclass
class Due:
    amount: Decimal | None
    reason: NotDue | None = None  # why not, when amount is None
    detail: str = ""
    note: str = ""  # e.g. that the amount was capped at the maximum

    @property
    def paused(self) -> bool:
        return self.reason == NotDue.PAUSED

    @property
    def message(self) -> str:
        """Why not, for people."""
        if self.reason is None:
            return ""
        label = NotDue(self.reason).label
        return f"{label}: {self.detail}" if self.detail else str(label)


def _amount_closing_gap(account: CreditAccount) -> Decimal:
    gap = max(account.recharge_trigger - account.balance, Decimal(0))
    return account.recharge_amount + gap


def recharge_amount_due(account: CreditAccount) -> Decimal:
    """The recharge amount plus what the balance lacks of the trigger (debt included): one charge
    lifts the balance to trigger + recharge amount, never a series of small ones. No charge is
    larger than PURCHASE_MAX_AMOUNT: a larger gap takes more than one recharge."""
    return min(_amount_closing_gap(account), settings.PURCHASE_MAX_AMOUNT)


def recharge_cap_note(account: CreditAccount) -> str:
    """What the attempt, its invoice and its email say when the maximum capped the amount."""
    high = settings.PURCHASE_MAX_AMOUNT
    if _amount_closing_gap(account) <= high:
        return ""
    maximum = format_money(high, str(account.currency))
    return f"capped at the {maximum} maximum; the next recharge follows"


def recharges_last_day(account: CreditAccount, now=None) -> int:
    since = (now or timezone.now()) - timedelta(hours=24)
    return RechargeAttempt.objects.filter(
        account=account,
        created_at__gte=since,
        status__in=[Status.SUCCEEDED, *RechargeAttempt.IN_FLIGHT],
    ).count()


def recharge_due(account: CreditAccount, now=None) -> Due:
    now = now or timezone.now()
    # A new-commerce organisation (an operator may have moved one with auto-recharge on) holds
    # no credits: a card charged for them would pay for funds the ledger refuses to add.
    if not account.auto_recharge_enabled or not account.organisation.holds_credits:
        return Due(None, NotDue.OFF)
    if account.recharge_suspended_at:
        return Due(None, NotDue.SUSPENDED, account.recharge_suspended_reason)
    if account.balance >= account.recharge_trigger:
        return Due(None, NotDue.ABOVE_TRIGGER)
    if account.recharge_retry_after and account.recharge_retry_after > now:
        return Due(
            None, NotDue.BACKING_OFF, f"until {account.recharge_retry_after:%Y-%m-%d %H:%M} UTC"
        )
    if recharges_last_day(account, now) >= settings.RECHARGE_MAX_PER_DAY:
        return Due(None, NotDue.PAUSED)
    if not recharge_method_ready(account):
        return Due(None, NotDue.NO_METHOD)
    return Due(recharge_amount_due(account), note=recharge_cap_note(account))


def recharge_enqueue(account: CreditAccount) -> None:
    """After the transaction commits, ask a worker to recharge this account if it is due."""
    from billing import tasks

    if account.auto_recharge_enabled and account.balance < (account.recharge_trigger or 0):
        # A broker outage loses nothing: the sweep finds the account below its trigger.
        enqueue_on_commit(tasks.recharge_account, account.pk)


def accounts_to_sweep(now=None) -> list[int]:
    """Accounts below their trigger, and accounts with an attempt stuck in flight."""
    now = now or timezone.now()
    below = CreditAccount.objects.filter(
        auto_recharge_enabled=True,
        recharge_suspended_at__isnull=True,
        balance__lt=F("recharge_trigger"),
    ).filter(Q(recharge_retry_after__isnull=True) | Q(recharge_retry_after__lte=now))
    stuck = RechargeAttempt.objects.filter(
        status__in=RechargeAttempt.IN_FLIGHT, lease_until__lte=now
    ).values("account_id")
    return sorted(
        set(below.values_list("pk", flat=True)) | set(stuck.values_list("account_id", flat=True))
    )


# --- Running one -------------------------------------------------------------------------------


def recharge_run(*, account_id: int) -> RechargeAttempt | None:
    """Finish the attempt in flight, or start one if due. Safe to run twice, or in two workers."""
    in_flight = RechargeAttempt.objects.filter(
        account_id=account_id, status__in=RechargeAttempt.IN_FLIGHT
    ).first()
    if in_flight is not None:
        if not _lease(in_flight):
            return in_flight  # a live worker holds it
        return _charge(in_flight)
    attempt = _attempt_start(account_id)
    return _charge(attempt) if attempt else None


def _lease(attempt: RechargeAttempt) -> bool:
    """Take over an attempt whose worker's lease ran out; only one taker wins."""
    now = timezone.now()
    return bool(
        RechargeAttempt.objects.filter(pk=attempt.pk, status__in=RechargeAttempt.IN_FLIGHT)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .update(lease_until=now + LEASE)
    )


def _attempt_start(account_id: int) -> RechargeAttempt | None:
    now = timezone.now()
    try:
        with transaction.atomic():
            account = lock_account(CreditAccount(pk=account_id))
            due = recharge_due(account, now)
            if due.amount is None:
                if due.reason == NotDue.PAUSED:
                    _guard_notify(account, now)
                return None
            return RechargeAttempt.objects.create(
                account=account,
                method=account.recharge_method,
                amount=due.amount,
                balance_before=account.balance,
                note=due.note,
                lease_until=now + LEASE,
            )
    except IntegrityError:
        return None  # another attempt got in first; it is the one in flight


def _guard_notify(account: CreditAccount, now) -> None:
    # Once per pause, not on every sweep.
    last = account.recharge_guard_notified_at
    if last and now - last < timedelta(hours=24):
        return
    account.recharge_guard_notified_at = now
    account.save(update_fields=["recharge_guard_notified_at"])
    notify_later(account=account, kind="recharge_paused", limit=str(settings.RECHARGE_MAX_PER_DAY))


def _charge(attempt: RechargeAttempt) -> RechargeAttempt:
    account = CreditAccount.objects.select_related("organisation", "recharge_agreement").get(
        pk=attempt.account_id
    )
    if attempt.method == Method.AGREEMENT:
        return _record_agreement(attempt, account)
    intent = _find_intent(attempt, account)
    if intent is None:
        card = card_current(account)
        if card is None:
            return _fail(attempt, "no_card", "No saved card to charge.", hard=True)
        RechargeAttempt.objects.filter(pk=attempt.pk, status=Status.PENDING).update(
            status=Status.CHARGING
        )
        attempt.status = Status.CHARGING
        try:
            intent = _create_intent(attempt, account, card)
        except gateway.CardError as exc:
            code = exc.decline_code or exc.code or "card_declined"
            if exc.payment_id:
                payments.payment_id_save(row=attempt, payment_id=exc.payment_id)
            return _fail(attempt, code, exc.message, hard=code in HARD_DECLINES)
        except gateway.ConnectionFailed:
            # Not a decline: the charge may have gone through. The sweep asks the gateway again.
            log.warning("gateway unreachable during recharge %s", attempt.code, exc_info=True)
            return attempt
        except gateway.GatewayError as exc:
            return _fail(attempt, exc.code or "gateway_error", exc.message, hard=True)
        payments.payment_id_save(row=attempt, payment_id=intent.id)
    return recharge_apply(attempt, intent)


def _create_intent(attempt: RechargeAttempt, account: CreditAccount, card: Card) -> GatewayPayment:
    currency = str(account.currency)
    return gateway.active().charge_create(
        amount_minor=to_minor_units(attempt.amount, currency),
        currency=currency,
        customer=customer_ensure(account),
        payment_method=card.stripe_payment_method_id,
        metadata=payments.payment_metadata(row=attempt, account=account),
        key=attempt.idempotency_key,
        off_session=True,
    )


def _find_intent(attempt: RechargeAttempt, account: CreditAccount) -> GatewayPayment | None:
    """The gateway payment already made for this attempt: by the saved id, else one of the
    account's customer whose metadata names the attempt (a worker may have died between the
    gateway's answer and saving its id). A payment anyone else made is never adopted."""
    gw = gateway.active()
    if attempt.stripe_payment_intent_id:
        return gw.payment_retrieve(attempt.stripe_payment_intent_id)
    found = gw.payment_find(
        customer=account.stripe_customer_id, metadata={"recharge": str(attempt.code)}
    )
    if found is not None and not payments.payment_owned(row=attempt, answer=found):
        return None
    return found


def recharge_apply(attempt: RechargeAttempt, intent: GatewayPayment) -> RechargeAttempt:
    """Bring the attempt in line with its gateway payment (worker, retry, sweep or webhook);
    an answer about a payment that is not the attempt's changes nothing."""
    if not payments.payment_owned(row=attempt, answer=intent):
        attempt.refresh_from_db()
        return attempt
    if intent.status == PaymentStatus.SUCCEEDED:
        return payments.payment_succeeded(row=attempt, answer=intent)
    if intent.status in (PaymentStatus.FAILED, PaymentStatus.REQUIRES_ACTION):
        code = (
            intent.decline_code
            or intent.error_code
            or (
                "authentication_required"
                if intent.status == PaymentStatus.REQUIRES_ACTION
                else "card_declined"
            )
        )
        return _fail(
            attempt,
            code,
            intent.error_message or "The card was declined.",
            hard=code in HARD_DECLINES,
        )
    attempt.refresh_from_db()
    return attempt  # processing: the webhook or the next sweep finishes it


def _record_agreement(attempt: RechargeAttempt, account: CreditAccount) -> RechargeAttempt:
    agreement = account.recharge_agreement
    if agreement is None:
        return _fail(
            attempt, "no_agreement", "The Enterprise Agreement is no longer available.", hard=True
        )
    try:
        # The limit is checked with the invoice, under the account's lock.
        return _record_success(
            attempt,
            account,
            reference=f"recharge:{attempt.code}",
            issue=lambda locked: agreement_invoice_issue(
                account=locked,
                agreement=agreement,
                total=attempt.amount,
                description=payments.invoice_line(attempt),
                kind=Invoice.Kind.RECHARGE,
            ),
        )
    except AgreementNotRegistered:
        return _fail(
            attempt, "no_agreement", "The Enterprise Agreement is no longer available.", hard=True
        )
    except CreditLimitExceeded as exc:
        return _fail(
            attempt,
            exc.code,
            exc.message,
            hard=True,
            reason=f"{agreement} reached its credit limit; once its invoices are paid or its "
            "limit is raised, choose it again on Payment methods to resume",
        )


def _record_success(
    attempt: RechargeAttempt, account: CreditAccount, *, reference: str, issue
) -> RechargeAttempt:
    """The one success recorder (`payments.success_record`) for an attempt paid without the
    gateway (an agreement): lot, invoice, ledger entries and status, once."""
    return payments.success_record(row=attempt, reference=reference, issue=issue)


def _fail(
    attempt: RechargeAttempt, code: str, message: str, *, hard: bool, reason: str = ""
) -> RechargeAttempt:
    """Record a decline once: back off, or suspend after a hard decline or too many in a row.
    `reason`, when given, is the suspension's reason instead of the card's."""
    now = timezone.now()
    with transaction.atomic():
        account = lock_account(CreditAccount(pk=attempt.account_id))
        locked = RechargeAttempt.objects.select_for_update().get(pk=attempt.pk)
        if locked.status not in RechargeAttempt.IN_FLIGHT:
            return locked
        locked.status = Status.FAILED
        locked.failure_code, locked.failure_message = code[:100], message[:500]
        locked.hard_decline = hard
        locked.finished_at = now
        locked.save()
        account.recharge_failures += 1
        delays = settings.RECHARGE_RETRY_HOURS
        suspend = hard or account.recharge_failures >= settings.RECHARGE_MAX_FAILURES
        currency = str(account.currency)
        if suspend:
            account.recharge_suspended_at = now
            account.recharge_suspended_reason = reason[:300] or (
                f"the card was declined ({code}); update the card to resume"
                if hard
                else f"{account.recharge_failures} declines in a row; update the card to resume"
            )
            account.recharge_retry_after = None
        else:
            hours = delays[min(account.recharge_failures, len(delays)) - 1]
            account.recharge_retry_after = now + timedelta(hours=hours)
        account.save(
            update_fields=[
                "recharge_failures",
                "recharge_suspended_at",
                "recharge_suspended_reason",
                "recharge_retry_after",
            ]
        )
        notify_later(
            account=account,
            kind="recharge_failed",
            amount=format_money(locked.amount, currency),
            reason=message,
            code=code,
            retry=("" if suspend else f"{account.recharge_retry_after:%Y-%m-%d %H:%M} UTC"),
        )
        publish(
            organisation_id=account.organisation_id,
            type="recharge.failed",
            key=f"recharge.failed:{locked.code}",
            data={
                "recharge": str(locked.code),
                "amount": amount_text(locked.amount, currency),
                "currency": currency,
                "code": code,
                "reason": message,
                "retry_at": None if suspend else account.recharge_retry_after.isoformat(),
            },
        )
        if suspend:
            notify_later(
                account=account,
                kind="recharge_suspended",
                reason=account.recharge_suspended_reason,
                code=code,
            )
            publish(
                organisation_id=account.organisation_id,
                type="auto_recharge.suspended",
                key=f"auto_recharge.suspended:{locked.code}",
                data={"reason": account.recharge_suspended_reason, "code": code},
            )
    return locked


def recharge_sweep() -> int:
    """Run due recharges and finish stuck ones across all accounts; how many attempts ran."""
    ran = 0
    for account_id in accounts_to_sweep():
        try:
            if recharge_run(account_id=account_id) is not None:
                ran += 1
        except gateway.GatewayError:
            log.warning("recharge of account %s left for the next sweep", account_id, exc_info=True)
    return ran
