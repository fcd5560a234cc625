"""The audit log: one call per admin action that touches money, licenses, keys or settings."""

from __future__ import annotations

import getpass
import json
import os

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest

from credits_portal.addresses import client_address
from credits_portal.models import AuditEvent, Organisation


def _plain(value):
    # Decimals as strings, dates as ISO: what JSON can hold without losing a cent.
    return None if value is None else json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def audit_record(
    *,
    organisation: Organisation,
    actor: str,
    action: str,
    target: str = "",
    before: dict | None = None,
    after: dict | None = None,
    ip_address: str | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        organisation=organisation,
        actor=actor[:254],
        action=action,
        target=str(target)[:254],
        before=_plain(before),
        after=_plain(after),
        ip_address=ip_address,
    )


def audit_command(
    *,
    organisation: Organisation,
    command: str,
    action: str,
    target: object = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Record what an operator did with a management command, as the system user who ran it."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (some containers)
        who = f"uid {os.getuid()}"
    return audit_record(
        organisation=organisation,
        actor=f"operator {who} (manage.py {command})",
        action=action,
        target=str(target),
        before=before,
        after=after,
    )


def actor_of(request: HttpRequest) -> str:
    api_key = getattr(request, "api_key", None)
    if api_key is not None:
        return f"API key {api_key.name} ({api_key.prefix})"
    return request.user.email if request.user.is_authenticated else "anonymous"


def audit(
    request: HttpRequest, action: str, target: object = "", before=None, after=None
) -> AuditEvent:
    """Record an action of the signed-in admin (or API key) in their organisation."""
    return audit_record(
        organisation=request.organisation,
        actor=actor_of(request),
        action=action,
        target=str(target),
        before=before,
        after=after,
        ip_address=client_address(request),
    )
