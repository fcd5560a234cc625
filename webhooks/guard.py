"""Where a webhook may be sent (server-side request forgery).

Only `http` and `https` URLs without credentials, to hosts whose every address is a public one:
no loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16 and the
cloud metadata address in it, fe80::/10), shared (100.64/10), multicast, reserved or unspecified
address, nor an IPv6 form of one (IPv4-mapped, NAT64, 6to4, Teredo). The URL is checked when it
is saved and again at every delivery against the addresses the name resolves to then, and the
delivery connects to the address it checked (`webhooks.transport`), so a name re-pointed at an
internal address after saving (DNS rebinding) is refused too. `WEBHOOKS_ALLOW_PRIVATE` lifts the
address rule (a test receiver on 127.0.0.1, an internal tool on purpose); never the scheme one.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from credits_portal.api_input import text_problem

MAX_URL_LENGTH = 2000
IP = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Refused(ValueError):
    """The URL or its address may not be delivered to; the message says why."""


@dataclass(frozen=True)
class Target:
    """A URL checked for delivery: where to connect and what to ask for there."""

    scheme: str
    host: str  # the name (or address) in the URL: the Host header and the TLS server name
    port: int
    path: str  # path and query
    netloc: str


def url_parse(url: str) -> Target:
    """`url` as a delivery target, or Refused naming what is wrong with it (no lookup)."""
    problem = text_problem(url, MAX_URL_LENGTH)
    if problem:
        raise Refused(problem)
    if not url or url != url.strip() or any(c.isspace() for c in url):
        raise Refused("A URL without spaces, e.g. https://hooks.example.com/credits.")
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"Not a valid URL ({exc}).") from None
    if parts.scheme not in ("http", "https"):
        raise Refused("Only http:// and https:// URLs are allowed.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise Refused("No user name or password in the URL: the signature authenticates us.")
    if not parts.hostname:
        raise Refused("The URL has no host.")
    if parts.fragment or url.endswith("#"):
        raise Refused("No #fragment: it is never sent.")
    if port == 0:
        raise Refused("Port 0 is not a port.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or (443 if parts.scheme == "https" else 80),
        path=path,
        netloc=parts.netloc,
    )


def address_problem(address: IP) -> str | None:
    """Why `address` is not a public one, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_problem(embedded)
    if address.is_loopback:
        return f"{address} is a loopback address."
    if address.is_link_local:
        return f"{address} is a link-local address (cloud metadata lives there)."
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return f"{address} is not a unicast internet address."
    if address.is_private or not address.is_global:
        return f"{address} is a private address."
    return None


def _literal(host: str) -> IP | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(target: Target) -> list[IP]:
    """The addresses `target`'s host stands for, now; Refused when it has none."""
    literal = _literal(target.host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Refused(f"The host name {target.host} does not resolve.") from None
    found: list[IP] = []
    for info in infos:
        # An IPv6 address may carry a scope ("fe80::1%eth0"): the address is the part before.
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in found:
            found.append(address)
    if not found:
        raise Refused(f"The host name {target.host} does not resolve.")
    return found


def checked_addresses(target: Target) -> list[IP]:
    """The addresses to connect to for `target`: every one public, else Refused (one private
    address among public ones is enough to refuse: which one a client picks is not ours to say).
    With WEBHOOKS_ALLOW_PRIVATE set, whatever the host resolves to."""
    addresses = resolve(target)
    if settings.WEBHOOKS_ALLOW_PRIVATE:
        return addresses
    for address in addresses:
        problem = address_problem(address)
        if problem:
            name = "" if _literal(target.host) else f"{target.host} resolves to "
            raise Refused(f"{name}{problem} Webhooks go to public addresses only.")
    return addresses


def url_check(url: str) -> Target:
    """`url` parsed and its host's addresses checked: what saving an endpoint asks. With
    WEBHOOKS_ALLOW_PRIVATE set, only the URL's form is checked."""
    target = url_parse(url)
    if not settings.WEBHOOKS_ALLOW_PRIVATE:
        checked_addresses(target)
    return target
