"""Reports › PSTN minute pools and Reports › Refused calls."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from credits_portal.permissions import Capability
from credits_portal.tenancy import require_capability
from credits_portal.validation import bad_request, export_refused
from usage.filters import DEFAULT_DAYS
from usage.preferences import preference_for
from usage.refusal_report import (
    RefusedCallFilter,
    action_for,
    csv_lines,
    page_of,
    refused_calls,
)
from usage.services.pool_report import month_parse, pool_report


@require_GET
@require_capability(Capability.REPORTS_VIEW)
def pools(request: HttpRequest) -> HttpResponse:
    """Each pool of the month (the current one unless `?month=YYYY-MM`) and the credits pool."""
    try:
        month = month_parse(request.GET.get("month"))
    except ValueError as exc:
        return bad_request("month", str(exc))
    report = pool_report(organisation=request.organisation, month=month)
    return render(request, "usage/pools.html", {"report": report})


def _filters(request: HttpRequest) -> RefusedCallFilter:
    """The filters as asked, the range the page shows by default included, so that the form's
    select shows the range the rows are of."""
    data = request.GET.copy()
    data.setdefault("range", str(DEFAULT_DAYS))
    return RefusedCallFilter(data)


@require_GET
@require_capability(Capability.REPORTS_VIEW)
def refused_calls_page(request: HttpRequest) -> HttpResponse:
    """Refused authorizations, newest first, a keyset page at a time, with what to do; times in
    the admin's report time zone (Columns and time zone), for this response only."""
    zone = preference_for(request.user).time_zone
    with timezone.override(zone):
        return _refused_calls_page(request, zone)


def _refused_calls_page(request: HttpRequest, zone: str) -> HttpResponse:
    form = _filters(request)
    if not form.is_valid():
        # The filters' errors are shown next to their fields; the status says they were refused.
        return render(
            request,
            "usage/refused_calls.html",
            {"form": form, "rows": [], "query": "", "zone": zone},
            status=400,
        )
    page, next_after = page_of(
        refused_calls(request.organisation, form), form.cleaned_data["after"]
    )
    role = request.membership.role
    query = request.GET.copy()
    query.pop("after", None)
    return render(
        request,
        "usage/refused_calls.html",
        {
            "form": form,
            "period": form.period,
            "rows": [(row, action_for(row, role, request.user.is_staff)) for row in page],
            "next_after": next_after,
            "paged": bool(form.cleaned_data["after"]),
            "query": query.urlencode(),
            "zone": zone,
        },
    )


@require_GET
@require_capability(Capability.REPORTS_VIEW)
def refused_calls_export(request: HttpRequest) -> HttpResponse:
    """The filtered refusals as CSV, streamed (every page, not only the shown one)."""
    form = _filters(request)
    if not form.is_valid():
        return export_refused(form.errors)
    rows = refused_calls(request.organisation, form)
    response = StreamingHttpResponse(
        csv_lines(rows, request.membership.role, preference_for(request.user).time_zone),
        content_type="text/csv; charset=utf-8",
    )
    filename = f"refused-calls-{timezone.now():%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
