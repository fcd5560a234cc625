import functools
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.defaults import page_not_found

from credits_portal import services
from credits_portal.api import problem
from credits_portal.audit import audit
from credits_portal.cache import OUTAGE
from credits_portal.forms import ApiKeyForm, OrganisationSwitchForm
from credits_portal.models import ApiKey, AuditEvent
from credits_portal.permissions import Capability, capability_labels
from credits_portal.slots import render_slot
from credits_portal.tenancy import SESSION_KEY, require_capability, require_member


@require_member
def home(request: HttpRequest) -> HttpResponse:
    organisation = request.organisation
    return render(
        request,
        "portal/home.html",
        {
            "capabilities": capability_labels(
                request.membership.role, holds_credits=organisation.holds_credits
            ),
            "member_count": organisation.memberships.count(),
            "alerts": render_slot("alerts", request),
            "cards": render_slot("home", request),
        },
    )


@require_POST
@require_member
def switch_organisation(request: HttpRequest) -> HttpResponse:
    form = OrganisationSwitchForm(request.POST)
    slugs = {m.organisation.slug for m in request.memberships}
    if not form.is_valid() or form.cleaned_data["organisation"] not in slugs:
        raise Http404
    request.session[SESSION_KEY] = form.cleaned_data["organisation"]
    return redirect("home")


def _get_api_key_for(request: HttpRequest, prefix: str) -> ApiKey:
    return get_object_or_404(ApiKey, organisation=request.organisation, prefix=prefix)


@require_GET
@require_capability(Capability.API_KEYS_MANAGE)
def api_key_list(request: HttpRequest) -> HttpResponse:
    keys = ApiKey.objects.filter(organisation=request.organisation).select_related("created_by")
    return render(request, "portal/api_key_list.html", {"keys": keys})


@never_cache
@require_http_methods(["GET", "POST"])
@require_capability(Capability.API_KEYS_MANAGE)
def api_key_create(request: HttpRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key, plain = services.api_key_create(
            organisation=request.organisation, created_by=request.user, **form.cleaned_data
        )
        audit(
            request, "api_key.created", key.name, after={"prefix": key.prefix, "scope": key.scope}
        )
        # The plain key is rendered once, in this response, and never stored.
        return render(request, "portal/api_key_created.html", {"key": key, "plain": plain})
    return render(request, "portal/api_key_form.html", {"form": form})


@require_http_methods(["GET", "POST"])
@require_capability(Capability.API_KEYS_MANAGE)
def api_key_revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    key = _get_api_key_for(request, prefix)
    if request.method == "POST":
        services.api_key_revoke(key=key)
        audit(
            request, "api_key.revoked", key.name, before={"prefix": key.prefix, "scope": key.scope}
        )
        messages.success(request, f"The key “{key.name}” is revoked; requests with it now get 401.")
        return redirect("api_key_list")
    return render(request, "portal/api_key_revoke.html", {"key": key})


@functools.cache
def _redis(url: str) -> redis.Redis:
    # One client and its connection pool per process, as the cache keeps (redis-py reconnects
    # after a fork and after a failed command); as short a timeout as the cache's.
    timeout = settings.REDIS_SOCKET_TIMEOUT
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and Redis reachability, for load balancers and the compose file. Without the
    database nothing works (503); without Redis the portal is degraded but serves (200): the call
    path reads the database and the beat sweeps run what could not be queued."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        _redis(settings.REDIS_URL).ping()
        checks["redis"] = "ok"
        OUTAGE.answered()
    except Exception as exc:
        checks["redis"] = f"error: {exc.__class__.__name__}"
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            OUTAGE.failed(exc)  # the call path stops asking it too
    if OUTAGE.down:
        checks["redis_fallback_since"] = datetime.fromtimestamp(OUTAGE.since, UTC).isoformat()
    if checks["database"] != "ok":
        status = "error"
    elif checks["redis"] != "ok":
        status = "degraded"
    else:
        status = "ok"
    return JsonResponse({"status": status, **checks}, status=503 if status == "error" else 200)


@require_GET
@require_capability(Capability.AUDIT_VIEW)
def audit_log(request: HttpRequest) -> HttpResponse:
    events = AuditEvent.objects.filter(organisation=request.organisation)
    action = request.GET.get("action", "").strip()
    if action:
        events = events.filter(action__startswith=action)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    actions = (
        AuditEvent.objects.filter(organisation=request.organisation)
        .values_list("action", flat=True)
        .distinct()
        .order_by("action")
    )
    return render(
        request, "portal/audit_log.html", {"events": page, "action": action, "actions": actions}
    )


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 everywhere: a problem document under /api/ (what no route there matches, such as an
    empty path value), the portal's page elsewhere."""
    if request.path.startswith("/api/"):
        return problem(404, "Not found", "No such resource in this API.", code="not_found")
    return page_not_found(request, exception)
