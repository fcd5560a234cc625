"""Home's pools card and its pool alerts read this month's pools once a request."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from credits_portal.permissions import Role
from usage.models import PoolUsage
from usage.services.pools import month_of, pool_size

pytestmark = pytest.mark.django_db


def test_home_reads_the_months_pools_once(client_as, person, rated):
    person("ana", "GB", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    size = pool_size(rated, PoolUsage.Category.DOMESTIC, "GB")
    PoolUsage.objects.create(
        organisation=rated,
        month=month_of(timezone.now()),
        category=PoolUsage.Category.DOMESTIC,
        country="GB",
        used=size - 1,
        held=0,
    )
    client = client_as(Role.GLOBAL)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("home"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "plan minutes are 99 % used" in html, "the alert"
    assert f"{size - 1:,}" in html, "the card"
    reads = [q["sql"] for q in queries if "FROM usage_poolusage" in q["sql"]]
    assert len(reads) == 1, reads
