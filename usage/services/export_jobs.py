"""Exports too large for one request: a job row, a worker writing the file, progress, download."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.http import QueryDict
from django.utils import timezone

from credits_portal.celery import enqueue_on_commit
from usage.exports import columns_for, csv_rows, xlsx_file
from usage.filters import report_queryset
from usage.models import ExportJob
from usage.preferences import chosen_columns, for_display, preference_for


def export_job_start(
    *, organisation, user, kind: str, fmt: str, query: str, rows: int
) -> ExportJob:
    from usage import tasks

    job = ExportJob.objects.create(
        organisation=organisation, user=user, kind=kind, format=fmt, query=query, rows_total=rows
    )
    enqueue_on_commit(tasks.run_export, job.pk)
    return job


def export_job_run(*, job_id: int) -> ExportJob:
    """Write the file; safe to run twice (a finished job is left as it is)."""
    job = ExportJob.objects.select_related("organisation", "user").get(pk=job_id)
    if job.status == ExportJob.Status.DONE:
        return job
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.RUNNING, rows_done=0)
    _filters, records = report_queryset(job.organisation, job.kind, QueryDict(job.query))
    preference = preference_for(job.user)
    records = for_display(records, preference)
    keys = preference.call_columns if job.kind == "call" else preference.sms_columns
    columns = chosen_columns(columns_for(job.kind), keys)
    zone = zoneinfo.ZoneInfo(preference.time_zone)
    settings.EXPORTS_DIR.mkdir(parents=True, exist_ok=True)
    filename = f"{job.organisation.slug}-{'calls' if job.kind == 'call' else 'sms'}-{job.code}.{job.format}"
    path = settings.EXPORTS_DIR / filename

    def progress(done: int) -> None:
        ExportJob.objects.filter(pk=job.pk).update(rows_done=done)

    try:
        with open(path, "wb") as out:
            if job.format == "csv":
                for line in csv_rows(records, columns, zone, progress):
                    out.write(line.encode("utf-8"))
            else:
                xlsx_file(
                    records,
                    job.kind,
                    columns,
                    zone,
                    str(job.organisation.currency),
                    out=out,
                    progress=progress,
                )
    except Exception as exc:
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, error=str(exc)[:300]
        )
        raise
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportJob.Status.DONE,
        rows_done=job.rows_total,
        filename=filename,
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job
