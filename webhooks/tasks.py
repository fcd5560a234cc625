"""Celery tasks of the webhooks, on the `notifications` queue (credits_portal/celery.py): thin,
by id, safe to run twice (a delivery is claimed with a lease; an email goes out at most once
more after a worker dies)."""

from celery import shared_task

from webhooks.services.delivery import deliveries_sweep, delivery_attempt, endpoint_disabled_notify

# An attempt is at most a lookup, a connect and an answer, each within WEBHOOKS_TIMEOUT (20 s
# at most) per address: well inside this, and inside the delivery's lease (delivery.LEASE).
DELIVERY_TIME_LIMIT = 90


@shared_task(time_limit=DELIVERY_TIME_LIMIT, acks_late=True)
def deliver_webhook(delivery_id: int) -> str | None:
    delivery = delivery_attempt(delivery_id=delivery_id)
    return delivery.status if delivery else None


@shared_task(time_limit=60, acks_late=True)
def sweep_webhook_deliveries() -> int:
    """Every minute: queue the deliveries whose next attempt is due."""
    return deliveries_sweep()


@shared_task(
    time_limit=120,
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_kwargs={"max_retries": 5},
)
def notify_endpoint_disabled(endpoint_id: int) -> int:
    return endpoint_disabled_notify(endpoint_id=endpoint_id)
