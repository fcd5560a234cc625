"""One POST to a webhook endpoint, connected to an address that was checked a moment before.

The name is resolved and every address checked (`guard.checked_addresses`) for each attempt, and
the connection goes to one of those addresses (the URL's name is still the Host header, the TLS
server name and the name the certificate must match), so DNS cannot answer one address to the
check and another to the connection. Redirects are not followed (one could point anywhere), the
answer's body is not read, and each of connecting and waiting for the answer has `timeout`.
"""

from __future__ import annotations

from dataclasses import dataclass

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, Timeout
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from webhooks.guard import Refused, checked_addresses, url_parse

USER_AGENT = "credits_portal-webhooks/1"


@dataclass(frozen=True)
class Answer:
    status: int | None  # the HTTP status, None when no answer came
    error: str = ""  # why no answer came (or was refused before asking)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Answer:
    """POST `body` to `url`: the answer's status, or why there is none. Never raises for the
    endpoint's faults (a refused address, DNS, TCP, TLS, a timeout)."""
    try:
        target = url_parse(url)
        addresses = checked_addresses(target)
    except Refused as exc:
        return Answer(None, f"Refused: {exc}")
    headers = {
        **headers,
        "Host": target.netloc,
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
    }
    last_error = ""
    for address in addresses:
        options = {
            "host": str(address),
            "port": target.port,
            "timeout": Timeout(connect=timeout, read=timeout),
            "retries": False,
            "maxsize": 1,
        }
        if target.scheme == "https":
            pool = HTTPSConnectionPool(
                **options,
                server_hostname=target.host,
                assert_hostname=target.host,
                cert_reqs="CERT_REQUIRED",
            )
        else:
            pool = HTTPConnectionPool(**options)
        try:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
            response.release_conn()
            return Answer(response.status)
        except (NewConnectionError, ConnectTimeoutError) as exc:
            # Not reachable at this address: the next one of the name may be.
            last_error = _reason(exc, timeout)
        except (Urllib3Timeout, TimeoutError) as exc:
            return Answer(None, _reason(exc, timeout))
        except SSLError as exc:
            return Answer(None, f"TLS failed: {_short(exc)}")
        except (ProtocolError, HTTPError, OSError) as exc:
            return Answer(None, f"Connection failed: {_short(exc)}")
        finally:
            pool.close()
    return Answer(None, last_error)


def _reason(exc: Exception, timeout: float) -> str:
    # NewConnectionError is a kind of ConnectTimeoutError in urllib3: ask for it first.
    if isinstance(exc, NewConnectionError):
        return f"Could not connect: {_short(exc)}"
    if isinstance(exc, ConnectTimeoutError | Urllib3Timeout | TimeoutError):
        return f"No answer within {timeout:g} s."
    return f"Could not connect: {_short(exc)}"


def _short(exc: Exception) -> str:
    text = str(exc)
    # urllib3 prefixes its messages with the connection object's repr; keep the reason.
    return (text.rpartition(": ")[2] or exc.__class__.__name__)[:200]
