"""Events an organisation's own tools can act on (Settings › Webhooks; API.md "Admin scope").

Services announce what happened with `publish`, inside their transaction; the event is sent to
the receivers of `event_published` once that transaction commits (never for a rolled-back one).
The webhooks app receives it and queues one signed delivery per subscribed endpoint. `key` names
the occurrence (e.g. "recharge.failed:<invoice id>", "balance.low:<account>:<threshold>:<episode>"):
announcing the same key again, from a retried task say, is one event, not two.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

TYPES = (
    "balance.low",
    "balance.zero",
    "runway.low",
    "recharge.succeeded",
    "recharge.failed",
    "auto_recharge.suspended",
    "funds.expiring",
    "cap.reached",
    "pool.threshold",
    "invoice.issued",
)

# Sent after commit with organisation_id, type, key and data (a JSON-serialisable dict).
event_published = Signal()


def publish(*, organisation_id: int, type: str, key: str, data: dict) -> None:
    """Announce an event once the current transaction commits (at once outside a transaction)."""
    if type not in TYPES:
        raise ValueError(f"unknown event type {type!r}")
    transaction.on_commit(
        lambda: event_published.send(
            sender=None, organisation_id=organisation_id, type=type, key=key, data=data
        )
    )
