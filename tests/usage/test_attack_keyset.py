"""Adversarial: the report's keyset cursors across organisations, tabs, filters and sorts, and
cursors with extreme values (even signed ones, as if the key leaked): never a 500, never another
organisation's row."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import unquote

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from credits_portal.keyset import SALT
from credits_portal.permissions import Role
from tests.builders import grant, make_member
from tests.usage.test_views_report_pages import calls, link
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana(rated, person):
    person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")
    grant(rated, "500")
    return rated


def next_cursor(client, params: dict) -> str:
    page = client.get(reverse("usage:report"), params)
    return unquote(re.search(r"cursor=([^&]+)", unescape(link(page, "next"))).group(1))


def test_a_cursor_of_another_organisation_shows_only_this_ones_rows(
    client_as, ana, other_org, monkeypatch
):
    monkeypatch.setattr("usage.views.PAGE_SIZE", 5)
    calls(ana, 12)
    cursor = next_cursor(client_as(Role.REPORTS), {})
    # fabrikam's own admin, with no records: the cursor must position nothing of contoso's.
    client = Client()
    client.force_login(make_member(other_org, Role.GLOBAL))
    for params in ({"cursor": cursor}, {"cursor": cursor, "sort": "-time"}):
        page = client.get(reverse("usage:report"), params)
        assert page.status_code == 200
        assert all(r.organisation_id == other_org.pk for r in page.context["records"])
        body = page.content.decode()
        assert "c-0" not in body and "ana@contoso" not in body


def test_a_cursor_with_changed_filters_or_tab_stays_within_them(client_as, ana, monkeypatch):
    monkeypatch.setattr("usage.views.PAGE_SIZE", 5)
    calls(ana, 14)
    reader = client_as(Role.REPORTS)
    cursor = next_cursor(reader, {})
    for params in (
        {"country": "GB"},
        {"country": "US"},
        {"tab": "sms"},
        {"range": "7", "funded_by": "credits"},
        {"user": "nobody"},
        {"range": "custom", "start": "2001-01-01", "end": "2001-01-02"},
    ):
        page = reader.get(reverse("usage:report"), {**params, "cursor": cursor})
        assert page.status_code == 200, params
        for row in page.context["records"]:
            assert row.organisation_id == ana.pk
            if "country" in params:
                assert row.to_country == params["country"]
            if params.get("tab") == "sms":
                assert row.kind == UsageRecord.Kind.SMS


def _signed(order: str, key: object, pk: object, back: object = False) -> str:
    return signing.dumps({"o": order, "k": key, "i": pk, "b": back}, salt=SALT)


EXTREME = [
    ("-time", "0001-01-01T00:00:00+00:00", 1),
    ("-time", "9999-12-31T23:59:59.999999+00:00", 1),
    ("time", "0001-01-01T00:00:00+14:00", 1),  # before year 1 once in UTC
    ("-time", "9999-12-31T23:59:59-14:00", 1),  # after year 9999 once in UTC
    ("-time", "2026-01-01T00:00:00", 1),  # no zone
    ("-charge", "1e400", 1),
    ("-charge", "-1e-400", 1),
    ("charge", "NaN", 1),
    ("charge", "sNaN", 1),
    ("-charge", "Infinity", 1),
    ("-charge", "9" * 5000, 1),
    ("duration", "99999999999999999999999", 1),
    ("-duration", "-1", 1),
    ("-time", "2026-01-01T00:00:00+00:00", 2**70),
    ("-time", "2026-01-01T00:00:00+00:00", -(2**70)),
    ("-call_id", "\x00", 1),
    ("-call_id", "\ud800", 1),
    ("call_id", "x" * 10_000, 1),
    ("-time", "2026-01-01T00:00:00+00:00", 1.5),
    ("-time", "2026-01-01T00:00:00+00:00", True),
    ("-time", ["a"], 1),
]


@pytest.mark.parametrize(("sort", "key", "pk"), EXTREME, ids=[str(i) for i in range(len(EXTREME))])
@pytest.mark.parametrize("back", [False, True])
def test_signed_cursors_with_extreme_values_never_give_a_500(client_as, ana, sort, key, pk, back):
    calls(ana, 3)
    reader = client_as(Role.REPORTS)
    page = reader.get(
        reverse("usage:report"), {"sort": sort, "cursor": _signed(sort, key, pk, back)}
    )
    assert page.status_code in (200, 400)
    if page.status_code == 200:
        assert all(r.organisation_id == ana.pk for r in page.context["records"])


@pytest.mark.parametrize(
    "cursor",
    ["a\x00b", "é" * 10_000, "%ED%A0%80", "..", "e30", "e30:" + "A" * 27, "[]:x:y"],
)
def test_hostile_cursor_text_never_gives_a_500(client_as, ana, cursor):
    calls(ana, 3)
    page = client_as(Role.REPORTS).get(reverse("usage:report"), {"cursor": cursor})
    assert page.status_code in (200, 400)
