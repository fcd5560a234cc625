"""Emails to an organisation's billing contacts, rendered from templates, sent after commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from billing.models import CreditAccount, Notification
from credits_portal.celery import enqueue_on_commit
from credits_portal.models import Membership
from credits_portal.permissions import Role

KINDS = {
    "recharge_succeeded",
    "recharge_failed",
    "recharge_suspended",
    "recharge_paused",
    "balance_zero",
    "funds_expiring",
    "balance_low",
    "runway_low",
    "spend_cap_warning",
    "spend_cap_reached",
}


def recipients(account: CreditAccount) -> list[str]:
    """The billing contacts; without any, the billing admins, then the global admins."""
    organisation = account.organisation
    contacts = list(organisation.billing_contacts.values_list("email", flat=True))
    if contacts:
        return contacts
    for role in (Role.BILLING, Role.GLOBAL):
        admins = list(
            Membership.objects.filter(organisation=organisation, role=role, user__is_active=True)
            .order_by("user__email")
            .values_list("user__email", flat=True)
        )
        if admins:
            return admins
    return []


def site_url(viewname: str, **kwargs) -> str:
    """A link for an email: the portal's address (`SITE_URL`) and the page's reversed path."""
    return settings.SITE_URL + reverse(viewname, kwargs=kwargs or None)


def notify_send(*, account: CreditAccount, kind: str, context: dict) -> int:
    """Render and send one notification now; the number of recipients it went to."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification {kind!r}")
    to = recipients(account)
    if not to:
        return 0
    context = {
        **context,
        "organisation": account.organisation.name,
        "credits_url": site_url("billing:credits"),
    }
    subject = " ".join(render_to_string(f"billing/email/{kind}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"billing/email/{kind}.txt", context),
        to=to,
    )
    message.attach_alternative(render_to_string(f"billing/email/{kind}.html", context), "text/html")
    message.send()
    return len(to)


def notify_later(*, account: CreditAccount, kind: str, **context: str) -> Notification:
    """Write the email into the outbox with the current transaction, and queue its sending once
    that commits (never from inside it). Not queued (Redis unreachable), the sweep sends it."""
    from billing import tasks

    if kind not in KINDS:
        raise ValueError(f"unknown notification {kind!r}")
    notification = Notification.objects.create(account=account, kind=kind, context=context)
    enqueue_on_commit(tasks.send_notification, notification.pk)
    return notification


def notification_deliver(*, notification_id: int) -> int:
    """Send one outbox email unless sent already, and mark it sent: the number of recipients.
    The row's lock keeps the task and the sweep from sending it together; an SMTP failure
    leaves it unsent for the task's retry or the sweep."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("account__organisation")
            .filter(pk=notification_id, sent_at__isnull=True)
            .first()
        )
        if notification is None:
            return 0
        notification.recipients = notify_send(
            account=notification.account, kind=notification.kind, context=notification.context
        )
        notification.sent_at = timezone.now()
        notification.save(update_fields=["recipients", "sent_at"])
    return notification.recipients


# Left unsent this long, an email is sent by the sweep; older than the limit, it is stale news.
RESEND_AFTER = timedelta(minutes=2)
RESEND_LIMIT = timedelta(days=3)


def notifications_resend(*, now: datetime | None = None) -> int:
    """Send the outbox's emails that were never sent (not queued while Redis was unreachable, or
    queued to a worker that died): how many were sent."""
    return unsent_resend(
        Notification.objects.all(), lambda pk: notification_deliver(notification_id=pk), now=now
    )


def unsent_resend(
    rows: QuerySet, send: Callable[[int], int], *, now: datetime | None = None
) -> int:
    """Send each of `rows` (emails with `created_at` and `sent_at`) left unsent for longer than
    RESEND_AFTER and not older than RESEND_LIMIT, oldest first, by `send(pk)`: how many went."""
    now = now or timezone.now()
    unsent = rows.filter(
        sent_at__isnull=True,
        created_at__lt=now - RESEND_AFTER,
        created_at__gte=now - RESEND_LIMIT,
    ).order_by("created_at")
    return sum(1 for pk in unsent.values_list("pk", flat=True)[:1000] if send(pk))
