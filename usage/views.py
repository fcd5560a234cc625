"""Reports › PSTN and SMS usage: the filtered records, their totals, exports and explanations."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from billing.models import LedgerEntry
from credits_portal.keyset import keyset_page
from credits_portal.permissions import Capability
from credits_portal.tenancy import require_capability
from credits_portal.validation import export_refused
from usage.chart import report_chart
from usage.exports import CALL_COLUMNS, OPT_IN, SMS_COLUMNS
from usage.filters import lots_drawn_for, order_of
from usage.models import ExportJob, UsageRecord
from usage.preferences import (
    PreferenceForm,
    chosen_columns,
    mask_choice,
    preference_for,
    preference_save,
)
from usage.services.aggregates import UsageSlice, report_slice, usage_totals
from usage.services.export_jobs import export_job_start
from usage.services.planner import chart_series, funding_plan
from usage.services.pools import month_of
from usage.services.report_export import ReportExport, export_assemble

PAGE_SIZE = 50


def _kind(request: HttpRequest) -> str:
    sms = request.GET.get("tab") == UsageRecord.Kind.SMS
    return UsageRecord.Kind.SMS if sms else UsageRecord.Kind.CALL


def _totals(where: UsageSlice) -> dict:
    return usage_totals(where=where)


def _export(request: HttpRequest, kind: str) -> ReportExport:
    return export_assemble(
        organisation=request.organisation, user=request.user, kind=kind, params=request.GET
    )


def _refused(filters) -> HttpResponse | None:
    """An export of filters that do not hold (a range too long, a date out of bounds): 400 naming
    each field, rather than a file of nothing."""
    if filters.is_valid():
        return None
    return export_refused(filters.form.errors)


@require_GET
@require_capability(Capability.REPORTS_VIEW)
def report(request: HttpRequest) -> HttpResponse:
    export = _export(request, _kind(request))
    # The admin's zone for this response only: the thread serves another admin next.
    with timezone.override(export.zone):
        return _report_page(request, export)


def _report_page(request: HttpRequest, export: ReportExport) -> HttpResponse:
    kind, filters, records = export.kind, export.filters, export.records
    columns, preference = export.columns, export.preference
    page = keyset_page(
        mask_choice(records, preference),
        order_of(filters),
        request.GET.get("cursor"),
        PAGE_SIZE,
    )
    if any(key == "lots" for key, _title, _get in columns):
        lots_drawn_for(page.rows)
    # Totals and chart from the daily aggregates: only the page of rows reads records.
    where = report_slice(filters, organisation=request.organisation, kind=kind)
    unit, series = chart_series(where)
    query = request.GET.copy()
    for name in ("page", "cursor"):
        query.pop(name, None)
    plan = funding_plan(request.organisation)  # its pools are the month's pools card too
    return render(
        request,
        "usage/report.html",
        {
            "kind": kind,
            "filters": filters,
            "records": page,
            "totals": _totals(where),
            "columns": columns,
            "zone": preference.time_zone,
            "query": query.urlencode(),
            "currency": str(request.organisation.currency),
            "chart": report_chart(series, unit=unit),
            "plan": plan,
            "pools_card": {
                "pools": [pool for pool, _runs_out in plan.pools],
                "month": month_of(timezone.now()),
            },
        },
        # The filters' errors are shown next to their fields; the status says they were refused.
        status=200 if filters.is_valid() else 400,
    )


def _large(request: HttpRequest, export: ReportExport, fmt: str) -> HttpResponse | None:
    """Past EXPORT_SYNC_LIMIT rows a worker writes the file; the admin watches its progress."""
    rows = export.records.count()
    if rows <= settings.EXPORT_SYNC_LIMIT:
        return None
    job = export_job_start(
        organisation=request.organisation,
        user=request.user,
        kind=export.kind,
        fmt=fmt,
        query=request.GET.urlencode(),
        rows=rows,
    )
    return redirect("usage:export_job", code=job.code)


def _today() -> str:
    return f"{timezone.now():%Y%m%d}"


@require_GET
@require_capability(Capability.REPORTS_VIEW)
def export_csv(request: HttpRequest) -> StreamingHttpResponse:
    export = _export(request, _kind(request))
    if refused := _refused(export.filters):
        return refused
    if job := _large(request, export, ExportJob.Format.CSV):
        return job
    response = StreamingHttpResponse(export.csv_lines(), content_type="text/csv; charset=utf-8")
    filename = export.filename(_today(), ExportJob.Format.CSV)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@require_capability(Capability.REPORTS_VIEW)
def export_xlsx(request: HttpRequest) -> FileResponse:
    export = _export(request, _kind(request))
    if refused := _refused(export.filters):
        return refused
    if job := _large(request, export, ExportJob.Format.XLSX):
        return job
    return FileResponse(
        export.xlsx(),
        as_attachment=True,
        filename=export.filename(_today(), ExportJob.Format.XLSX),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@require_GET
@require_capability(Capability.REPORTS_VIEW)
def record_detail(request: HttpRequest, record_id: str) -> HttpResponse:
    """How one call or message was rated: the rate line, the pool, the lots drawn, the entries."""
    record = get_object_or_404(
        UsageRecord.objects.select_related("user"),
        organisation=request.organisation,
        record_id=record_id,
    )
    entries = LedgerEntry.objects.filter(
        account__organisation=request.organisation, reference=record.ledger_reference
    ).select_related("lot")
    return render(request, "usage/record.html", {"record": record, "entries": entries})


@require_GET
@require_capability(Capability.REPORTS_VIEW)
def columns(request: HttpRequest) -> HttpResponse:
    """The column picker and time zone on a page of their own: the ~600 zones are rendered only
    when the admin comes to change them, not on every load of the report."""
    preference = preference_for(request.user)
    form = PreferenceForm(
        initial={
            "call_columns": [c[0] for c in chosen_columns(CALL_COLUMNS, preference.call_columns)],
            "sms_columns": [c[0] for c in chosen_columns(SMS_COLUMNS, preference.sms_columns)],
            "time_zone": preference.time_zone,
            "mask_sms_numbers": preference.mask_sms_numbers,
        }
    )
    query = request.GET.get("query", "")
    return render(
        request,
        "usage/columns.html",
        {"preference_form": form, "query": query, "opt_in": sorted(OPT_IN)},
    )


@require_POST
@require_capability(Capability.REPORTS_VIEW)
def preferences(request: HttpRequest) -> HttpResponse:
    """Edit columns and time zone; remembered for this admin."""
    form = PreferenceForm(request.POST)
    back = reverse("usage:report") + (
        "?" + request.POST["query"] if request.POST.get("query") else ""
    )
    if not form.is_valid():
        messages.error(request, "Choose at least one column of each kind and a time zone.")
        return redirect(back)
    preference_save(user=request.user, **form.cleaned_data)
    messages.success(request, "Your columns and time zone are saved.")
    return redirect(back)


def _get_job_for(request: HttpRequest, code) -> ExportJob:
    return get_object_or_404(ExportJob, organisation=request.organisation, code=code)


@require_GET
@require_capability(Capability.REPORTS_VIEW)
def export_job(request: HttpRequest, code) -> HttpResponse:
    return render(request, "usage/export_job.html", {"job": _get_job_for(request, code)})


@require_GET
@require_capability(Capability.REPORTS_VIEW)
def export_download(request: HttpRequest, code) -> FileResponse:
    job = _get_job_for(request, code)
    if job.status != ExportJob.Status.DONE:
        return redirect("usage:export_job", code=job.code)  # not ready yet: watch it there
    return FileResponse(
        open(settings.EXPORTS_DIR / job.filename, "rb"), as_attachment=True, filename=job.filename
    )
