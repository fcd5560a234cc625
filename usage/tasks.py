from celery import shared_task

from credits_portal.db_router import replica_reads
from usage.services.caps import cap_holds_purge
from usage.services.export_jobs import export_job_run
from usage.services.holds import holds_release_expired
from usage.services.overage import overage_invoice_unbilled
from usage.services.pool_alerts import pool_alert_send, pool_alerts_resend
from usage.services.runway_alerts import runway_alerts_refresh
from usage.services.seats import seats_renew_due


@shared_task(time_limit=60, acks_late=True)
def release_holds() -> int:
    """Every minute: minute holds past their expiry go back to the pool (one statement), and
    expired spend-cap holds are deleted (they no longer count)."""
    released = holds_release_expired()
    cap_holds_purge()
    return released


@shared_task(time_limit=900, acks_late=True)
def invoice_overage() -> int:
    """Every overage not yet billed up to the end of the last closed month (`invoice_overage`)."""
    return overage_invoice_unbilled()


@shared_task(time_limit=1800, acks_late=True)
def run_export(job_id: int) -> str:
    """On the `exports` queue. The records are read from the replica when there is one; the
    job's status and progress are written to (and read from) the primary."""
    with replica_reads():
        return export_job_run(job_id=job_id).status


# Sending an email twice is better than not at all; SMTP hiccups are retried with back-off.
@shared_task(
    time_limit=120,
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_kwargs={"max_retries": 5},
)
def send_pool_alert(alert_id: int) -> int:
    """A pool reached 80 % or 100 % of its minutes this month: its email (pool_alerts)."""
    return pool_alert_send(alert_id=alert_id)


@shared_task(time_limit=600, acks_late=True)
def resend_pool_alerts() -> int:
    """Every five minutes: pool alerts whose email was never sent (Redis was unreachable)."""
    return pool_alerts_resend()


@shared_task(time_limit=1800, acks_late=True)
def renew_seats() -> int:
    """Daily: every subscription not yet renewed this month is renewed and invoiced (once per
    subscription and month, so the runs after the first of the month find nothing to do)."""
    return seats_renew_due()


@shared_task(time_limit=900, acks_late=True)
def check_balance_alerts() -> int:
    """Hourly: the low-balance and runway alerts of every account, with a fresh spend rate (a
    debit checks them at once; this catches expiry and a changed pace). Safe to run twice: an
    alert fires once per episode."""
    return runway_alerts_refresh()
