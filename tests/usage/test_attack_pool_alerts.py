"""Adversarial: fifty ingests at once carry a pool across 80 % together: one alert, one email."""

from __future__ import annotations

import pytest
from django.core import mail

from billing.services.contacts import billing_contact_add
from tests.builders import demo_rate_card, licensed_user, seats_of_every_sku
from tests.processes import at_once
from tests.usage.test_services_pool_alerts import ANA, call
from usage.models import PoolAlert, PoolUsage
from usage.services.ingest import usage_ingest

pytestmark = pytest.mark.django_db(transaction=True)


def test_fifty_concurrent_ingests_crossing_80_percent_send_one_email(org):
    demo_rate_card()
    seats_of_every_sku(org, 50)
    licensed_user(org, ANA, "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    billing_contact_add(organisation=org, email="ap@contoso.example")
    usage_ingest(organisation=org, records=[call(950)])
    mail.outbox = []
    assert at_once(lambda n: usage_ingest(organisation=org, records=[call(1)]), 50) == []
    assert PoolUsage.objects.get(organisation=org, country="GB").used == 1000
    assert PoolAlert.objects.filter(organisation=org).count() == 1
    assert len(mail.outbox) == 1
