"""What the webhooks app receives: `credits_portal.events.event_published`, sent after the
announcing service's transaction commits."""

from __future__ import annotations

import logging

from django.dispatch import receiver

from credits_portal.events import event_published
from webhooks.services.events import event_record

log = logging.getLogger(__name__)


@receiver(event_published)
def record_event(sender, organisation_id: int, type: str, key: str, data: dict, **kwargs) -> None:
    # The announcing service has committed its work already (a payment, an invoice): no fault
    # here may turn its success into an error. The event is lost then, and the log says which.
    try:
        event_record(organisation_id=organisation_id, type=type, key=key, data=data)
    except Exception:
        log.exception(
            "webhook event %s (%s) of organisation %s not recorded", key, type, organisation_id
        )
