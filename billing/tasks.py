from celery import shared_task

from billing.services.ledger import funds_expire


@shared_task(time_limit=900, acks_late=True)
def expire_funds() -> int:
    return funds_expire()
