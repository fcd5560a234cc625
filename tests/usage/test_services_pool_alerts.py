"""Issue 16, item 3: billing contacts are emailed when a pool reaches 80 % and 100 % of its minutes
in a month, once each per (pool, month, threshold), even when batches reach it together."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from django.core import mail

from billing.services.contacts import billing_contact_add
from tests.builders import demo_rate_card, licensed_user, make_org, seats_of_every_sku
from tests.processes import at_once
from usage.models import PoolAlert, PoolUsage
from usage.services.authorize import call_authorize
from usage.services.ingest import usage_ingest
from usage.services.pool_alerts import thresholds_reached
from usage.services.pools import month_of

LONDON = "+442071838750"  # domestic for a GB user
ANA = "ana@contoso.example"
_ids = itertools.count(1)


def call(minutes: int, upn: str = ANA) -> dict:
    return {
        "id": f"call-{next(_ids)}",
        "kind": "call",
        "type": "outbound",
        "user": upn,
        "to": LONDON,
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_seconds": 60 * minutes,
    }


def ingest(organisation, *minutes: int, capture) -> None:
    with capture(execute=True):
        results = usage_ingest(organisation=organisation, records=[call(m) for m in minutes])
    assert all(r.status == "rated" for r in results), [r.as_dict() for r in results]


@pytest.fixture
def gb_pool(rated, person):
    """contoso: one GB user with domestic calling (a 1,200-minute pool), a billing contact."""
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    billing_contact_add(organisation=rated, email="ap@contoso.example")
    return rated


def test_thresholds():
    assert thresholds_reached(959, 1200) == []
    assert thresholds_reached(960, 1200) == [80]
    assert thresholds_reached(1200, 1200) == [80, 100]
    assert thresholds_reached(5, 0) == []


@pytest.mark.django_db
def test_an_email_once_at_80_and_once_at_100_percent(gb_pool, django_capture_on_commit_callbacks):
    ingest(gb_pool, 500, 459, capture=django_capture_on_commit_callbacks)  # 959 of 1,200
    assert mail.outbox == [] and not PoolAlert.objects.exists()
    ingest(gb_pool, 1, capture=django_capture_on_commit_callbacks)  # 960: 80 %
    (email,) = mail.outbox
    assert email.to == ["ap@contoso.example"]
    assert (
        email.subject
        == f"Domestic calling (United Kingdom) minutes: 80 % used in {datetime.now(UTC):%B %Y}"
    )
    assert "960 of the 1200" in email.body and "?month=" in email.body
    ingest(gb_pool, 100, 100, capture=django_capture_on_commit_callbacks)  # 1,160: still 80 %
    assert len(mail.outbox) == 1
    ingest(gb_pool, 40, capture=django_capture_on_commit_callbacks)  # 1,200: 100 %
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject.startswith("Domestic calling (United Kingdom) minutes: all used")
    ingest(gb_pool, 30, capture=django_capture_on_commit_callbacks)  # beyond: paid from credits
    assert len(mail.outbox) == 2
    alerts = PoolAlert.objects.order_by("threshold")
    assert [(a.threshold, a.used, a.size) for a in alerts] == [(80, 960, 1200), (100, 1200, 1200)]
    assert all(a.sent_at is not None for a in alerts)
    assert all(a.month == month_of(datetime.now(UTC)) for a in alerts)


@pytest.mark.django_db
def test_minutes_held_by_authorizations_send_nothing(gb_pool, django_capture_on_commit_callbacks):
    """Holds are promises that mostly come back (each call holds up to four hours): only used
    minutes reach a threshold."""
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(6):  # 5 x 240 minutes hold the whole pool
            call_authorize(organisation=gb_pool, upn=ANA, call_type="outbound", to=LONDON)
    pool = PoolUsage.objects.get(organisation=gb_pool, country="GB")
    assert pool.held == 1200 and pool.used == 0
    assert mail.outbox == [] and not PoolAlert.objects.exists()


@pytest.mark.django_db
def test_each_organisation_and_pool_alerts_on_its_own(gb_pool, django_capture_on_commit_callbacks):
    other = make_org("fabrikam", name="Fabrikam GmbH")
    seats_of_every_sku(other, 5)
    licensed_user(other, "zoe@fabrikam.example", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    billing_contact_add(organisation=other, email="ap@fabrikam.example")
    ingest(gb_pool, 1000, capture=django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        usage_ingest(organisation=other, records=[call(100, "zoe@fabrikam.example")])
    assert [m.to for m in mail.outbox] == [["ap@contoso.example"]]
    with django_capture_on_commit_callbacks(execute=True):
        usage_ingest(organisation=other, records=[call(900, "zoe@fabrikam.example")])
    assert [m.to for m in mail.outbox] == [["ap@contoso.example"], ["ap@fabrikam.example"]]


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_reaching_80_percent_send_one_email(org):
    demo_rate_card()
    seats_of_every_sku(org, 50)
    licensed_user(org, ANA, "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    billing_contact_add(organisation=org, email="ap@contoso.example")
    usage_ingest(organisation=org, records=[call(950)])
    mail.outbox = []

    def batch(n: int) -> None:
        usage_ingest(organisation=org, records=[call(20)])

    assert at_once(batch, 4) == []
    assert PoolUsage.objects.get(organisation=org, country="GB").used == 1030
    assert PoolAlert.objects.filter(organisation=org).count() == 1
    assert len(mail.outbox) == 1
