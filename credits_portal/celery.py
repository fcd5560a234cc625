"""The Celery app (`celery -A credits_portal worker|beat`) and the one beat schedule."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "credits_portal.settings")

app = Celery("credits_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "expire-funds": {
        "task": "billing.tasks.expire_funds",
        "schedule": crontab(minute=5),
    },
    "sweep-recharges": {
        "task": "billing.tasks.sweep_recharges",
        "schedule": 300.0,
    },
    "notify-expiring-funds": {
        "task": "billing.tasks.notify_expiring_funds",
        "schedule": crontab(minute=30, hour=8),
    },
    "release-reservations": {
        "task": "usage.tasks.release_reservations",
        "schedule": 60.0,
    },
    "invoice-overage": {
        "task": "usage.tasks.invoice_overage",
        "schedule": crontab(minute=15, hour=2, day_of_month=1),
    },
    "purge-idempotency-keys": {
        "task": "credits_portal.tasks.purge_idempotency_keys",
        "schedule": crontab(minute=17, hour="*"),
    },
}
