"""Emails to the billing contacts when a minute pool reaches 80 % and 100 % of its minutes in a
month: once each per (pool, month, threshold), which a unique constraint decides.

Only used minutes count, not held ones: authorization holds up to the longest call allowed
(four hours) of a pool for every call it lets start, so a handful of concurrent calls would
"reach" 100 % of a pool they will mostly give back. Used minutes change only when usage records
are ingested, so ingest is the one place that asks, in its own transaction, once the batch's pool
counts are written; the email is queued for after that transaction commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Protocol

from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django_countries import countries

from billing.services.ledger import account_for
from billing.services.notifications import recipients, site_url, unsent_resend
from credits_portal.celery import enqueue_on_commit
from credits_portal.events import publish
from credits_portal.models import Organisation
from usage.models import PoolAlert, PoolUsage
from usage.services.pools import month_of


class _Counted(Protocol):
    size: int
    used: int

    @property
    def changed(self) -> bool: ...


_INSERT_SQL = """
INSERT INTO usage_poolalert
    (organisation_id, month, category, country, threshold, used, size, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (organisation_id, month, category, country, threshold) DO NOTHING
RETURNING id
"""


def thresholds_reached(used: int, size: int) -> list[int]:
    """The thresholds (percent) that `used` minutes of a pool of `size` have reached."""
    if size <= 0:
        return []
    return [t for t in PoolAlert.Threshold.values if used * 100 >= t * size]


def pool_alerts_check(
    *,
    organisation: Organisation,
    pools: Mapping[tuple[date, str, str], _Counted],
    now: datetime | None = None,
) -> list[int]:
    """Inside the transaction that wrote these pools' counts ((month, category, country) →
    size and used): an alert for each threshold newly reached this month, its email queued for
    after the commit. The ids of the alerts made (none when already made, by this batch or a
    concurrent one)."""
    from usage import tasks

    now = now or timezone.now()
    this_month = month_of(now)
    made: list[int] = []
    with connection.cursor() as cursor:
        for (month, category, country), pool in pools.items():
            if month != this_month or not pool.changed:
                continue
            for threshold in thresholds_reached(pool.used, pool.size):
                cursor.execute(
                    _INSERT_SQL,
                    [
                        organisation.pk,
                        month,
                        category,
                        country,
                        threshold,
                        pool.used,
                        pool.size,
                        now,
                    ],
                )
                if row := cursor.fetchone():
                    made.append(row[0])
                    _publish(organisation, row[0], month, category, country, threshold, pool)
    for alert_id in made:
        enqueue_on_commit(tasks.send_pool_alert, alert_id)
    return made


def _publish(
    organisation: Organisation,
    alert_id: int,
    month: date,
    category: str,
    country: str,
    threshold: int,
    pool: _Counted,
) -> None:
    publish(
        organisation_id=organisation.pk,
        type="pool.threshold",
        key=f"pool.threshold:{alert_id}",
        data={
            "month": f"{month:%Y-%m}",
            "category": category,
            "country": country or None,
            "threshold": threshold,
            "used": pool.used,
            "size": pool.size,
        },
    )


def pool_label(category: str, country: str) -> str:
    label = PoolUsage.Category(category).label
    return f"{label} ({countries.name(country) or country})" if country else label


def pool_alert_send(*, alert_id: int) -> int:
    """Email one alert to the organisation's billing contacts (the billing notifications'
    recipients) and mark it sent; the number of recipients (0 when it was sent already). The
    row's lock keeps the task and the sweep from sending it together."""
    with transaction.atomic():
        alert = (
            PoolAlert.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("organisation")
            .filter(pk=alert_id, sent_at__isnull=True)
            .first()
        )
        if alert is None:
            return 0
        to = recipients(account_for(alert.organisation))
        if to:
            _email(alert, to)
        PoolAlert.objects.filter(pk=alert.pk).update(sent_at=timezone.now())
    return len(to)


def _email(alert: PoolAlert, to: list[str]) -> None:
    context = {
        "organisation": alert.organisation.name,
        "pool": pool_label(alert.category, alert.country),
        "month": alert.month,
        "threshold": alert.threshold,
        "used": alert.used,
        "size": alert.size,
        "full": alert.threshold >= 100,
        "pools_url": f"{site_url('usage:pools')}?month={alert.month:%Y-%m}",
        "credits_url": site_url("billing:credits"),
    }
    subject = " ".join(render_to_string("usage/email/pool_alert_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject, body=render_to_string("usage/email/pool_alert.txt", context), to=to
    )
    message.attach_alternative(
        render_to_string("usage/email/pool_alert.html", context), "text/html"
    )
    message.send()


def pool_alerts_resend(*, now: datetime | None = None) -> int:
    """Send the alerts whose email was never sent (not queued while Redis was unreachable, or
    queued to a worker that died), as the billing notifications' sweep does: how many."""
    return unsent_resend(PoolAlert.objects.all(), lambda pk: pool_alert_send(alert_id=pk), now=now)
