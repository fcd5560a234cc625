from celery import shared_task

from credits_portal.api import idempotency_keys_purge


@shared_task(time_limit=300, acks_late=True)
def purge_idempotency_keys() -> int:
    return idempotency_keys_purge()
