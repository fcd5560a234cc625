"""The signed-in organisation: every portal view works inside exactly one.

`TenantMiddleware` sets `request.membership` and `request.organisation` from the session (the
organisation switcher stores the choice). Views guard themselves with `require_capability`, and
load objects with `organisation=request.organisation` so another tenant's object answers 404.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from credits_portal.models import Membership
from credits_portal.permissions import Can, Capability, role_can

SESSION_KEY = "organisation"


class TenantMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.memberships = []
        request.membership = None
        request.organisation = None
        if request.user.is_authenticated:
            memberships = list(
                Membership.objects.filter(user=request.user)
                .select_related("organisation")
                .order_by("organisation__name")
            )
            chosen = request.session.get(SESSION_KEY)
            current = next((m for m in memberships if m.organisation.slug == chosen), None)
            current = current or (memberships[0] if memberships else None)
            request.memberships = memberships
            request.membership = current
            request.organisation = current.organisation if current else None
        return self.get_response(request)


def require_capability(capability: Capability) -> Callable:
    """Signed in, a member of an organisation, and holding a role that grants `capability`."""

    def decorator(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.membership is None or not role_can(request.membership.role, capability):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.capability = capability
        return wrapped

    return decorator


def require_member(view: Callable) -> Callable:
    """Signed in and a member of some organisation (pages every role sees)."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.membership is None:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


def tenant_context(request: HttpRequest) -> dict:
    membership = getattr(request, "membership", None)
    return {
        "organisation": getattr(request, "organisation", None),
        "membership": membership,
        "memberships": getattr(request, "memberships", []),
        "can": Can(membership.role if membership else None),
    }
