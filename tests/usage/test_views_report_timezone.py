"""The report's time zone is the admin's, for that response only (finding 4 of issue 14)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.test import Client
from django.utils import timezone

from credits_portal.models import AuditEvent
from tests.builders import make_member
from usage.preferences import preference_save

pytestmark = pytest.mark.django_db
AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 2026-11-21 02:00 in Pacific/Kiritimati


def test_the_next_request_on_the_thread_renders_in_its_own_zone(members, other_org):
    thread = threading.get_ident()
    kiribati = members["global"]
    preference_save(
        user=kiribati,
        call_columns=[],
        sms_columns=[],
        time_zone="Pacific/Kiritimati",
    )
    first = Client()
    first.force_login(kiribati)
    response = first.get("/reports/usage/")
    assert response.status_code == 200 and b"Pacific/Kiritimati" in response.content

    # Another organisation's admin, who never chose a zone, on the same thread next.
    AuditEvent.objects.create(organisation=other_org, actor="t", action="key.created", at=AT)
    second = Client()
    second.force_login(make_member(other_org, "global"))
    response = second.get("/settings/audit-log/")
    assert threading.get_ident() == thread
    assert response.status_code == 200
    page = response.content.decode()
    assert "2026-11-20 12:00:00" in page and "2026-11-21 02:00:00" not in page
    assert timezone.get_current_timezone_name() == "UTC"
