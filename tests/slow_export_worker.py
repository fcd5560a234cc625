"""`celery -A tests.slow_export_worker worker`: the portal's Celery app with one fault, for
tests/credits_portal/test_celery_queues.py. An export job's file is not written until the file
named by EXPORT_GATE exists, so the test holds the exports worker busy as long as it likes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from unittest import mock

from celery import signals

from credits_portal.celery import app

__all__ = ["app"]


@signals.worker_init.connect
def _hold_exports(**kwargs) -> None:
    import django

    django.setup()
    from usage.services.report_export import ReportExport

    write = ReportExport.write
    gate = Path(os.environ["EXPORT_GATE"])

    def held(self, fmt, out, progress=None):
        deadline = time.monotonic() + 120
        while not gate.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return write(self, fmt, out, progress)

    mock.patch.object(ReportExport, "write", held).start()
