"""`GET`/`POST /api/v1/webhooks` and `DELETE /api/v1/webhooks/{webhook_id}` (API.md "Admin
scope"), for admin keys: the same services as Settings › Webhooks."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.http import Http404, HttpRequest
from ninja import Field, Router, Schema, Status

from credits_portal.api import admin_auth
from credits_portal.api_input import Text
from credits_portal.audit import audit
from credits_portal.events import TYPES
from webhooks.guard import MAX_URL_LENGTH
from webhooks.models import WebhookEndpoint
from webhooks.services import endpoints as services

router = Router(tags=["webhooks"], auth=admin_auth)


class WebhookIn(Schema):
    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "url": "https://hooks.example.com/credits",
                    "events": ["balance.low", "recharge.failed"],
                }
            ]
        }
    }

    url: Text(MAX_URL_LENGTH) = Field(
        description="Where to POST the events: http(s), no credentials, a public address"
        " (unless the operator set WEBHOOKS_ALLOW_PRIVATE)."
    )
    events: list[Text(40)] = Field(
        max_length=50, description=f"Event types, at least one of: {', '.join(TYPES)}."
    )


class WebhookOut(Schema):
    id: str
    url: str
    events: list[str]
    status: str  # "enabled" or "disabled" (after a day of failed deliveries)
    disabled_reason: str | None
    created_at: datetime


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="The signing secret: returned this once, never again.")


class WebhookListOut(Schema):
    webhooks: list[WebhookOut]


def _out(endpoint: WebhookEndpoint) -> dict:
    return {
        "id": str(endpoint.code),
        "url": endpoint.url,
        "events": endpoint.events,
        "status": endpoint.status,
        "disabled_reason": endpoint.disabled_reason or None,
        "created_at": endpoint.created_at,
    }


@router.get("/webhooks", response=WebhookListOut)
def webhook_list(request: HttpRequest):
    """The organisation's webhook endpoints, oldest first (secrets are never listed)."""
    endpoints = WebhookEndpoint.objects.filter(organisation=request.organisation)
    return {"webhooks": [_out(e) for e in endpoints]}


@router.post("/webhooks", response={201: WebhookCreatedOut})
def webhook_create(request: HttpRequest, payload: WebhookIn):
    """Add an endpoint; the answer holds its signing secret, once. 422 naming `url` (not
    http(s), credentials, a private or unresolvable host) or `events` (none, an unknown type);
    409 when the organisation has 20 endpoints already."""
    endpoint, secret = services.endpoint_create(
        organisation=request.organisation, url=payload.url, events=payload.events
    )
    audit(
        request,
        "webhook.created",
        endpoint.url,
        after={"url": endpoint.url, "events": endpoint.events},
    )
    return Status(201, {**_out(endpoint), "secret": secret})


@router.delete("/webhooks/{webhook_id}", response={204: None})
def webhook_delete(request: HttpRequest, webhook_id: Text(36)):
    """Remove an endpoint and its delivery log: 204; 404 for one this organisation does not
    have."""
    try:
        code = uuid.UUID(webhook_id)
    except ValueError:
        raise Http404 from None
    endpoint = WebhookEndpoint.objects.filter(organisation=request.organisation, code=code).first()
    if endpoint is None:
        raise Http404
    services.endpoint_delete(endpoint=endpoint)
    audit(
        request,
        "webhook.deleted",
        endpoint.url,
        before={"url": endpoint.url, "events": endpoint.events},
    )
    return Status(204, None)
