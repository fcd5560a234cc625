"""Exports too large for one request: a job row, a worker writing the file, progress, download."""

from __future__ import annotations

from django.conf import settings
from django.http import QueryDict
from django.utils import timezone

from credits_portal.celery import enqueue_on_commit
from usage.models import ExportJob
from usage.services.report_export import export_assemble


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
    export = export_assemble(
        organisation=job.organisation, user=job.user, kind=job.kind, params=QueryDict(job.query)
    )
    settings.EXPORTS_DIR.mkdir(parents=True, exist_ok=True)
    filename = export.filename(str(job.code), job.format)
    path = settings.EXPORTS_DIR / filename

    def progress(done: int) -> None:
        ExportJob.objects.filter(pk=job.pk).update(rows_done=done)

    try:
        with open(path, "wb") as out:
            export.write(job.format, out, progress)
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
