from celery import shared_task

from billing.services.reservations import reservations_release_expired
from usage.services.overage import overage_invoice_closed_month


@shared_task(time_limit=60, acks_late=True)
def release_reservations() -> int:
    return reservations_release_expired()


@shared_task(time_limit=900, acks_late=True)
def invoice_overage() -> int:
    return overage_invoice_closed_month()
