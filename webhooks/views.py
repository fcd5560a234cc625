"""Settings › Webhooks (global admins): endpoints, their delivery log and a test event."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from credits_portal.audit import audit
from credits_portal.permissions import Capability
from credits_portal.tenancy import require_capability
from webhooks.exceptions import WebhookError
from webhooks.forms import EVENT_HELP, WebhookForm
from webhooks.models import WebhookEndpoint
from webhooks.services import endpoints as services
from webhooks.services.delivery import MAX_ATTEMPTS

LOG_PAGE = 50


def _get_endpoint_for(request: HttpRequest, code: str) -> WebhookEndpoint:
    return get_object_or_404(WebhookEndpoint, organisation=request.organisation, code=code)


@require_GET
@require_capability(Capability.WEBHOOKS_MANAGE)
def endpoint_list(request: HttpRequest) -> HttpResponse:
    endpoints = WebhookEndpoint.objects.filter(organisation=request.organisation)
    return render(request, "webhooks/endpoint_list.html", {"endpoints": endpoints})


@never_cache
@require_http_methods(["GET", "POST"])
@require_capability(Capability.WEBHOOKS_MANAGE)
def endpoint_create(request: HttpRequest) -> HttpResponse:
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = services.endpoint_create(
                organisation=request.organisation, created_by=request.user, **form.cleaned_data
            )
        except WebhookError as exc:
            for field, problems in (
                getattr(exc, "errors", None) or {exc.field: [exc.message]}
            ).items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
        else:
            audit(
                request,
                "webhook.created",
                endpoint.url,
                after={"url": endpoint.url, "events": endpoint.events},
            )
            # The secret is rendered once, in this response; no page shows it again.
            return render(
                request, "webhooks/endpoint_created.html", {"endpoint": endpoint, "secret": secret}
            )
    events = [(option, EVENT_HELP[option.data["value"]]) for option in form["events"]]
    # A refused form says so in its status too (400), with each problem next to its field.
    status = 400 if request.method == "POST" else 200
    return render(
        request, "webhooks/endpoint_form.html", {"form": form, "events": events}, status=status
    )


@require_GET
@require_capability(Capability.WEBHOOKS_MANAGE)
def endpoint_detail(request: HttpRequest, code: str) -> HttpResponse:
    endpoint = _get_endpoint_for(request, code)
    deliveries = endpoint.deliveries.select_related("event").order_by("-created_at", "-id")
    page = Paginator(deliveries, LOG_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "webhooks/endpoint_detail.html",
        {"endpoint": endpoint, "deliveries": page, "max_attempts": MAX_ATTEMPTS},
    )


@require_POST
@require_capability(Capability.WEBHOOKS_MANAGE)
def endpoint_test(request: HttpRequest, code: str) -> HttpResponse:
    endpoint = _get_endpoint_for(request, code)
    try:
        delivery = services.endpoint_send_test_event(endpoint=endpoint)
    except WebhookError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Test event {delivery.event.public_id} queued; its delivery is logged below."
        )
    return redirect("webhooks:endpoint", code=endpoint.code)


@require_POST
@require_capability(Capability.WEBHOOKS_MANAGE)
def endpoint_enable(request: HttpRequest, code: str) -> HttpResponse:
    endpoint = _get_endpoint_for(request, code)
    was = endpoint.status
    services.endpoint_enable(endpoint=endpoint)
    if was != endpoint.status:
        audit(request, "webhook.enabled", endpoint.url, before={"status": was})
    messages.success(request, "The endpoint is enabled: new events are delivered to it again.")
    return redirect("webhooks:endpoint", code=endpoint.code)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.WEBHOOKS_MANAGE)
def endpoint_delete(request: HttpRequest, code: str) -> HttpResponse:
    endpoint = _get_endpoint_for(request, code)
    if request.method == "POST":
        services.endpoint_delete(endpoint=endpoint)
        audit(
            request,
            "webhook.deleted",
            endpoint.url,
            before={"url": endpoint.url, "events": endpoint.events},
        )
        messages.success(request, f"{endpoint.url} receives no more events.")
        return redirect("webhooks:list")
    return render(request, "webhooks/endpoint_delete.html", {"endpoint": endpoint})
