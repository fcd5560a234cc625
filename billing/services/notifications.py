"""Emails to an organisation's billing contacts, rendered from templates, sent after commit."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from billing.models import CreditAccount
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


def notify_later(*, account: CreditAccount, kind: str, **context: str) -> None:
    """Queue the email once the current transaction commits (never from inside it)."""
    from billing import tasks

    if kind not in KINDS:
        raise ValueError(f"unknown notification {kind!r}")
    enqueue_on_commit(tasks.send_notification, account.pk, kind, context)
