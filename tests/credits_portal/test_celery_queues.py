"""Exports and emails on queues of their own (issue 16, item 5): a long export never delays a
recharge. Real worker processes, one for each queue, as `make run` and docker-compose start them."""

from __future__ import annotations

import re

import pytest

from billing.models import RechargeAttempt
from credits_portal.celery import QUEUE_DEFAULT, QUEUE_EXPORTS, QUEUE_NOTIFICATIONS, app
from credits_portal.embedded import BASE_DIR, WORKERS
from credits_portal.permissions import Role
from tests.billing.recharge_helpers import spend, turn_on
from tests.builders import grant
from tests.processes import celery_worker, wait_until
from usage.models import ExportJob
from usage.services.export_jobs import export_job_start


def _queue(task: str) -> str:
    return app.amqp.router.route({}, task)["queue"].name


def test_exports_and_emails_are_routed_to_their_own_queues():
    app.loader.import_default_modules()
    assert _queue("usage.tasks.run_export") == QUEUE_EXPORTS
    assert _queue("billing.tasks.send_notification") == QUEUE_NOTIFICATIONS
    assert _queue("billing.tasks.notify_expiring_funds") == QUEUE_NOTIFICATIONS
    for task in ("billing.tasks.recharge_account", "billing.tasks.sweep_recharges"):
        assert _queue(task) == QUEUE_DEFAULT, task
    # The beat's entries all land on a queue some worker serves.
    queues = {q.name for q in app.conf.task_queues}
    assert queues == {QUEUE_DEFAULT, QUEUE_EXPORTS, QUEUE_NOTIFICATIONS}
    assert {_queue(entry["task"]) for entry in app.conf.beat_schedule.values()} <= queues


def test_make_run_and_docker_compose_start_a_worker_for_each_queue():
    served = [args[args.index("-Q") + 1] for args in WORKERS.values()]
    assert sorted(served) == sorted({q.name for q in app.conf.task_queues})
    compose = (BASE_DIR / "docker-compose.yml").read_text()
    assert sorted(re.findall(r'"-Q", "(\w+)"', compose)) == sorted(served)
    assert compose.count('"beat"') == 1
    for name, args in WORKERS.items():
        if name != "worker":  # the exports and emails: one at a time, memory stays low
            assert args[args.index("--concurrency") + 1] == "1", name


@pytest.fixture
def not_eager():
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True


@pytest.mark.django_db(transaction=True)
def test_a_recharge_is_processed_while_a_long_export_holds_the_exports_worker(
    org, members, not_eager, tmp_path
):
    turn_on(org)
    grant(org, "25.00")
    gate = tmp_path / "gate"  # the export's file is not written until this exists
    held = {"EXPORT_GATE": str(gate), "EXPORTS_DIR": str(tmp_path)}
    with (
        celery_worker(
            *WORKERS["worker-exports"],
            app="tests.slow_export_worker",
            name="test-worker-exports",
            env=held,
        ),
        celery_worker(*WORKERS["worker"], "--pool", "solo", name="test-worker-default"),
    ):
        job = export_job_start(
            organisation=org,
            user=members[Role.REPORTS],
            kind="call",
            fmt="csv",
            query="range=90",
            rows=0,
        )

        def status() -> str:
            return ExportJob.objects.values_list("status", flat=True).get(pk=job.pk)

        assert wait_until(lambda: status() == ExportJob.Status.RUNNING, timeout=60)
        spend(org, "10.00", "call-1")  # 15.00 < 20.00: a recharge is queued after the commit
        assert wait_until(
            lambda: RechargeAttempt.objects.filter(
                account__organisation=org, status="succeeded"
            ).exists(),
            timeout=60,
        )
        assert status() == ExportJob.Status.RUNNING, "the export held its worker all along"
        gate.touch()
        assert wait_until(lambda: status() == ExportJob.Status.DONE, timeout=60)
    assert (tmp_path / ExportJob.objects.get(pk=job.pk).filename).exists()
