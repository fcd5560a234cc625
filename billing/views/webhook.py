"""Stripe's webhook: verified, handled once per event id, by the services the browser uses."""

from __future__ import annotations

import logging

import stripe
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing import gateway
from billing.services.webhooks import event_handle

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    try:
        event = gateway.construct_event(request.body, request.headers.get("Stripe-Signature", ""))
    except (ValueError, stripe.SignatureVerificationError):
        log.warning("refused a Stripe webhook with a bad signature")
        return HttpResponse("bad signature", status=400, content_type="text/plain")
    event_handle(event)
    return HttpResponse("ok", content_type="text/plain")
