"""Adversarial: a storm of refused authorizations at once, made-up and absurd UPNs, through the
real API; the rows stay bounded, every answer is a refusal or a 4xx naming the field, never a
500, and another organisation's refusals never show."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse

from credits_portal.permissions import Role
from tests.builders import make_api_key, make_org
from tests.processes import at_once
from usage.models import RefusedCall
from usage.services import refusals

pytestmark = pytest.mark.django_db(transaction=True)
UK = "+442071838750"


def test_a_storm_of_fifty_distinct_unknown_and_huge_upns(rated, client_as, monkeypatch):
    monkeypatch.setattr(refusals, "UNKNOWN_PER_DAY", 10)
    key = make_api_key(rated, "platform")
    other = make_org("fabrikam", name="Fabrikam")
    other_key = make_api_key(other, "platform")
    answers: list[tuple[int, dict, float]] = []
    refused_here: list[int] = []

    def call(i: int) -> None:
        upn = f"ghost{i}@contoso.example" if i % 5 else ("y" * 10_000 + str(i))
        started = time.monotonic()
        response = Client().post(
            "/api/v1/calls/authorize",
            {"user": upn, "type": "outbound", "to": UK},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {other_key if i == 49 else key}",
        )
        answers.append((response.status_code, response.json(), time.monotonic() - started))
        if response.status_code == 200 and i != 49:
            refused_here.append(i)

    assert at_once(call, 50) == []
    statuses = {status for status, _body, _s in answers}
    assert statuses <= {200, 422}, statuses
    for status, body, _seconds in answers:
        if status == 200:
            assert body["allowed"] is False and body["reason"] == "unknown_user"
        else:
            assert "user" in str(body)
    assert max(seconds for *_x, seconds in answers) < 20  # sane on a shared 2-core machine
    mine = RefusedCall.objects.filter(organisation=rated)
    # Bounded: the cap, plus at most the requests racing past it, plus the shared row.
    assert mine.count() <= 10 + 50 + 1
    assert sum(mine.values_list("count", flat=True)) == len(refused_here)
    assert all(len(upn) <= 254 for upn in mine.values_list("upn", flat=True))
    page = client_as(Role.GLOBAL).get(reverse("usage:refused_calls"))
    assert page.status_code == 200
    assert "ghost49@" not in page.content.decode()  # fabrikam's refusal


@pytest.mark.parametrize(
    "month", ["0001-01", "9999-12", "10000-01", "2026-13", "-2026-01", "2026-1\x00", "x" * 10_000]
)
def test_pools_month_extremes_never_500(rated, client_as, month):
    response = client_as(Role.GLOBAL).get(reverse("usage:pools"), {"month": month})
    assert response.status_code in (200, 400)


@pytest.mark.parametrize(
    "params",
    [
        {"start": "0001-01-01", "end": "9999-12-31"},
        {"user": "\x00"},
        {"user": "y" * 10_000},
        {"reason": "x" * 10_000},
        {"cursor": "x" * 10_000},
        {"start": "9999-12-31"},
    ],
)
def test_refused_calls_extremes_never_500(rated, client_as, params):
    response = client_as(Role.GLOBAL).get(reverse("usage:refused_calls"), params)
    assert response.status_code in (200, 400)
