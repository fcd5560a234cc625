"""The Celery app (`celery -A credits_portal worker|beat`), the one beat schedule, and how the
web process queues a task."""

import logging
import os
import time

from celery import Celery
from celery.schedules import crontab
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "credits_portal.settings")

app = Celery("credits_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
log = logging.getLogger(__name__)

# Three queues, so that a long export never delays a recharge: `make run` and docker-compose start
# one worker for each (`-Q celery`, `-Q exports`, `-Q notifications`); a worker started without
# -Q serves all three. The default queue keeps Celery's name: recharges, expiry, the sweeps.
QUEUE_DEFAULT = "celery"
QUEUE_EXPORTS = "exports"
QUEUE_NOTIFICATIONS = "notifications"
app.conf.task_default_queue = QUEUE_DEFAULT
app.conf.task_queues = [Queue(name) for name in (QUEUE_DEFAULT, QUEUE_EXPORTS, QUEUE_NOTIFICATIONS)]
app.conf.task_routes = {
    "usage.tasks.run_export": {"queue": QUEUE_EXPORTS},
    "billing.tasks.send_notification": {"queue": QUEUE_NOTIFICATIONS},
    "billing.tasks.resend_notifications": {"queue": QUEUE_NOTIFICATIONS},
    "usage.tasks.resend_pool_alerts": {"queue": QUEUE_NOTIFICATIONS},
    "usage.tasks.send_pool_alert": {"queue": QUEUE_NOTIFICATIONS},
    # Webhook deliveries, their sweep and the email when an endpoint is disabled.
    "webhooks.tasks.*": {"queue": QUEUE_NOTIFICATIONS},
    # Batches that find who to email (notify_expiring_funds) and any later one named so.
    "*.notify_*": {"queue": QUEUE_NOTIFICATIONS},
}

app.conf.beat_schedule = {
    "expire-funds": {
        "task": "billing.tasks.expire_funds",
        "schedule": crontab(minute=5),
    },
    # Finishes what a killed worker left within a minute of its lease running out.
    "sweep-recharges": {
        "task": "billing.tasks.sweep_recharges",
        "schedule": 60.0,
    },
    "notify-expiring-funds": {
        "task": "billing.tasks.notify_expiring_funds",
        "schedule": crontab(minute=30, hour=8),
    },
    # Expired authorizations give back what they held: credit reservations and minute holds.
    "release-reservations": {
        "task": "billing.tasks.release_reservations",
        "schedule": 60.0,
    },
    "release-holds": {
        "task": "usage.tasks.release_holds",
        "schedule": 60.0,
    },
    "invoice-overage": {
        "task": "usage.tasks.invoice_overage",
        "schedule": crontab(minute=15, hour=2, day_of_month=1),
    },
    # Monthly renewal on the first; the daily runs after it renew what the first missed.
    "renew-seats": {
        "task": "usage.tasks.renew_seats",
        "schedule": crontab(minute=30, hour=1),
    },
    # Emails written but never sent (Redis unreachable when they were to be queued).
    "resend-notifications": {
        "task": "billing.tasks.resend_notifications",
        "schedule": crontab(minute="*/5"),
    },
    "resend-pool-alerts": {
        "task": "usage.tasks.resend_pool_alerts",
        "schedule": crontab(minute="*/5"),
    },
    # After the hourly expiry: balances it lowered, and the runway at the current pace.
    "check-balance-alerts": {
        "task": "usage.tasks.check_balance_alerts",
        "schedule": crontab(minute=10),
    },
    # Queues the webhook deliveries whose next attempt (back-off after a failure) is due.
    "sweep-webhook-deliveries": {
        "task": "webhooks.tasks.sweep_webhook_deliveries",
        "schedule": 60.0,
    },
    "purge-idempotency-keys": {
        "task": "credits_portal.tasks.purge_idempotency_keys",
        "schedule": crontab(minute=17, hour="*"),
    },
}


def enqueue(task, *args) -> bool:
    """Queue `task(*args)` now; False, logged, when the broker (Redis) does not take it within
    REDIS_SOCKET_TIMEOUT. A request never waits on Redis for longer, nor fails because of it:
    what is queued from the call path is also found by a beat sweep, or only worth a log line."""
    from django.conf import settings
    from kombu.exceptions import OperationalError

    from credits_portal.cache import OUTAGE

    if app.conf.task_always_eager:  # the tests: run here, as `delay` does
        task.delay(*args)
        return True
    if OUTAGE.waiting():
        _not_queued(task, args)
        return False
    fast = {
        **app.conf.broker_transport_options,
        "socket_timeout": settings.REDIS_SOCKET_TIMEOUT,
        "socket_connect_timeout": settings.REDIS_SOCKET_TIMEOUT,
        "max_retries": 0,
    }
    try:
        with app.connection_for_write(transport_options=fast) as connection:
            task.apply_async(args, connection=connection, retry=False)
    except (OperationalError, OSError) as exc:
        OUTAGE.failed(exc)
        _not_queued(task, args)
        return False
    OUTAGE.answered()
    return True


_NOT_QUEUED: dict[str, list] = {}  # task name -> [not queued since the last log line, logged at]


def _not_queued(task, args: tuple) -> None:
    # One line a minute for each task, with a count: an outage must not flood the log.
    from credits_portal.cache import LOG_EVERY

    now = time.monotonic()
    entry = _NOT_QUEUED.setdefault(task.name, [0, -LOG_EVERY])
    entry[0] += 1
    if now - entry[1] >= LOG_EVERY:
        log.error(
            "Redis is unreachable: %s not queued (%d times since this was last logged; the last %r)",
            task.name,
            entry[0],
            args,
        )
        entry[:] = [0, now]


def enqueue_on_commit(task, *args) -> None:
    """`enqueue` once the current transaction commits (never from inside it)."""
    from django.db import transaction

    transaction.on_commit(lambda: enqueue(task, *args))
