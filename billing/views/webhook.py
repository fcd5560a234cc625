"""The gateway's webhook: verified, handled once per event id, by the services the browser uses."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing import gateway
from billing.services.webhooks import event_handle

log = logging.getLogger(__name__)


def _text(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain")


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    try:
        event = gateway.active().event_parse(payload=request.body, headers=request.headers)
    except gateway.BadSignature:
        log.warning("refused a webhook with a bad signature")
        return _text("bad signature", 400)
    except gateway.MalformedEvent as exc:
        log.warning("refused a signed webhook that is not an event: %s", exc.message)
        return _text(f"malformed event: {exc.field}: {exc.message}", 400)
    try:
        event_handle(event=event)
    except gateway.GatewayError:
        # Not the event's fault: answering an error makes the gateway send it again later.
        log.warning("webhook event %s left for the gateway's retry", event.id, exc_info=True)
        return _text("gateway unavailable; retry", 503)
    return _text("ok")
