"""Adversarial: every path that writes usage records keeps the daily aggregates exact with them
(verify_ledger), including the operator's Django admin and authorized calls settled by ingest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from billing.services.verify import ledger_verify
from credits_portal.models import User
from tests.builders import grant, make_org
from tests.processes import at_once
from tests.usage.test_services_aggregates import add_people, aggregated, assert_exact
from usage.models import UsageRecord
from usage.services.authorize import call_authorize
from usage.services.ingest import usage_ingest

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 20, 0, 0, 30, tzinfo=UTC)
EDGE = "2026-11-19T23:59:59.999999Z"  # the last microsecond of a UTC day
AFTER = "2026-11-20T00:00:00Z"


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("ops@example.net", "Correct-Horse-9x"))
    return client


def _one(rated) -> UsageRecord:
    add_people(rated)
    grant(rated, "50")
    with time_machine.travel(NOW, tick=False):
        usage_ingest(
            organisation=rated,
            records=[
                {
                    "id": "only",
                    "kind": "call",
                    "type": "outbound",
                    "user": "bob@contoso.example",
                    "to": "+33142685300",
                    "started_at": EDGE,
                    "duration_seconds": 61,
                }
            ],
        )
    return UsageRecord.objects.get()


def test_admin_cannot_delete_a_usage_record(rated, operator):
    """A deleted record would leave its aggregate (and its ledger debit) behind."""
    record = _one(rated)
    response = operator.post(
        f"/admin/usage/usagerecord/{record.pk}/delete/", {"post": "yes"}, follow=False
    )
    assert response.status_code == 403
    response = operator.post(
        "/admin/usage/usagerecord/",
        {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"},
    )
    assert UsageRecord.objects.filter(pk=record.pk).exists()
    assert_exact()


def test_admin_cannot_add_a_usage_record(rated, operator):
    """Records come from ingest only: an added one is neither aggregated nor debited."""
    _one(rated)
    assert operator.get("/admin/usage/usagerecord/add/").status_code == 403
    assert operator.get("/admin/usage/usagerecord/").status_code == 200  # still readable
    assert_exact()


@pytest.mark.django_db(transaction=True)
def test_authorized_calls_and_sms_across_midnight_in_concurrent_overlapping_batches(rated):
    """Authorize, then ingest the same authorizations twice at once in overlapping batches,
    calls and SMS mixed, on both sides of midnight UTC to the microsecond."""
    other = make_org("fabrikam", name="Fabrikam")
    add_people(rated)
    add_people(other)
    grant(rated, "500")
    grant(other, "500")
    with time_machine.travel(NOW, tick=False):
        records: dict[int, list[dict]] = {}
        for organisation in (rated, other):
            slug = organisation.slug
            batch = []
            for i in range(60):
                upn = [f"ana@{slug}.example", f"bob@{slug}.example"][i % 2]
                to = ["+12015550123", "+442071838750", "+33142685300"][i % 3]
                started = EDGE if i % 4 < 2 else AFTER
                if i % 5 == 0:
                    batch.append(
                        {
                            "id": f"s{i}",
                            "kind": "sms",
                            "type": "sms",
                            "user": upn,
                            "to": to,
                            "started_at": started,
                        }
                    )
                    continue
                decision = call_authorize(
                    organisation=organisation, upn=upn, call_type="outbound", to=to
                )
                batch.append(
                    {
                        "id": f"c{i}",
                        "kind": "call",
                        "type": "outbound",
                        "user": upn,
                        "to": to,
                        "started_at": started,
                        "duration_seconds": 59 + i * 7,
                        "authorization_id": getattr(decision, "authorization_id", "") or "",
                    }
                )
            records[organisation.pk] = batch

        def work(i: int) -> None:
            organisation = (rated, other)[i % 2]
            start = (i // 2) * 10
            usage_ingest(organisation=organisation, records=records[organisation.pk][start:][:30])

        assert at_once(work, 12) == []
        # And every record once more, in one batch each: all duplicates, nothing added.
        before = aggregated()
        for organisation in (rated, other):
            results = usage_ingest(organisation=organisation, records=records[organisation.pk])
            assert {r.status for r in results} <= {"duplicate", "rejected"}
    assert aggregated() == before
    days = {r.started_at.date() for r in UsageRecord.objects.all()}
    assert days == {NOW.date() - timedelta(days=1), NOW.date()}
    assert UsageRecord.objects.filter(organisation=rated).count() > 40
    assert_exact()
    assert ledger_verify() == []
