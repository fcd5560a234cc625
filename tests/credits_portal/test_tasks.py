from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from credits_portal.celery import app
from credits_portal.models import ApiKey, IdempotencyKey
from credits_portal.tasks import purge_idempotency_keys
from tests.builders import make_api_key
from tests.processes import celery_worker, wait_until


def _key(org, key: str, age: timedelta) -> IdempotencyKey:
    api_key = ApiKey.objects.filter(organisation=org).first()
    if api_key is None:
        make_api_key(org)
        api_key = ApiKey.objects.get(organisation=org)
    return IdempotencyKey.objects.create(
        organisation=org,
        api_key=api_key,
        key=key,
        fingerprint="0" * 64,
        status_code=201,
        response_body=b"{}",
        content_type="application/json",
        created_at=timezone.now() - age,
    )


def test_every_beat_entry_names_a_registered_task():
    app.loader.import_default_modules()
    for name, entry in app.conf.beat_schedule.items():
        assert entry["task"] in app.tasks, name


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_purges_expired_idempotency_keys(org):
    _key(org, "old", timedelta(hours=25))
    _key(org, "fresh", timedelta(hours=1))
    with celery_worker("--pool", "solo"):
        purge_idempotency_keys.delay()
        assert wait_until(lambda: not IdempotencyKey.objects.filter(key="old").exists())
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
