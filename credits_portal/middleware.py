"""Per-request state that must not outlive its request on a thread that serves the next one."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone


class TimezoneResetMiddleware:
    """Every request starts and ends in the default zone (UTC), whatever a view activated: a
    gunicorn thread that rendered one admin's report in their zone serves another admin next."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
