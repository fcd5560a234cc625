"""Celery tasks: thin, by id, safe to run twice (acks_late: a task can be delivered again after a
worker dies). None retries a charge by itself; the recharge sweep finishes what is left."""

from celery import shared_task

from billing.models import CreditAccount
from billing.services.expiry_notice import expiring_funds_notify
from billing.services.ledger import funds_expire
from billing.services.notifications import (
    notification_deliver,
    notifications_resend,
    notify_send,
)
from billing.services.recharge import RECHARGE_TIME_LIMIT, recharge_run, recharge_sweep
from billing.services.reservations import reservations_release_expired


@shared_task(time_limit=900, acks_late=True)
def expire_funds() -> int:
    return funds_expire()


# The limit sets the attempt's lease (recharge.LEASE): keep the two together.
@shared_task(
    time_limit=RECHARGE_TIME_LIMIT, soft_time_limit=RECHARGE_TIME_LIMIT - 10, acks_late=True
)
def recharge_account(account_id: int) -> str | None:
    attempt = recharge_run(account_id=account_id)
    return attempt.status if attempt else None


@shared_task(time_limit=900, acks_late=True)
def sweep_recharges() -> int:
    return recharge_sweep()


@shared_task(time_limit=60, acks_late=True)
def release_reservations() -> int:
    """Every minute: credit reservations past their expiry stop holding funds (one statement)."""
    return reservations_release_expired()


@shared_task(time_limit=600, acks_late=True)
def notify_expiring_funds() -> int:
    return expiring_funds_notify()


# Sending an email twice is better than not at all; SMTP hiccups are retried with back-off.
@shared_task(
    time_limit=120,
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_kwargs={"max_retries": 5},
)
def send_notification(notification_id: int, kind: str | None = None, context=None) -> int:
    if kind is not None:  # queued before the outbox (account id, kind, context): sent as it was
        account = CreditAccount.objects.select_related("organisation").get(pk=notification_id)
        return notify_send(account=account, kind=kind, context=context)
    return notification_deliver(notification_id=notification_id)


@shared_task(time_limit=600, acks_late=True)
def resend_notifications() -> int:
    """Every five minutes: the outbox's emails left unsent (Redis was unreachable, a worker died)."""
    return notifications_resend()
