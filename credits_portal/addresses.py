"""The client's address, as the trusted proxies in front of the portal saw it.

With `TRUSTED_PROXY_COUNT` = 0 (no proxy) it is `REMOTE_ADDR`. Behind N proxies, each appending
the address it received from to `X-Forwarded-For`, it is the Nth entry from the right: entries
further left were written by the client and prove nothing. Sign-in failures are counted per
account and this address (django-axes), so behind a proxy one stranger cannot lock everyone out.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [
        entry.strip()
        for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if entry.strip()
    ]
    if not forwarded:
        return remote
    # Fewer entries than proxies: the request came in behind the first of them; its leftmost
    # entry is still one a trusted proxy wrote.
    chosen = forwarded[-count] if len(forwarded) >= count else forwarded[0]
    return _address(chosen) or remote


def _address(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None
