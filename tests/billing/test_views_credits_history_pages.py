"""The Credits page's ledger history in keyset pages: no COUNT of the entries, pages that never
skip or repeat an entry while new ones arrive, and hostile cursors answered with the first page."""

from __future__ import annotations

import re
from decimal import Decimal
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import LedgerEntry
from billing.services.ledger import funds_debit
from billing.views.credits import LEDGER_ORDER
from credits_portal.keyset import Order, cursor_encode
from credits_portal.permissions import Role
from tests.builders import account_of, grant

pytestmark = pytest.mark.django_db

URL = reverse("billing:credits")


@pytest.fixture
def billing_client(client_as):
    return client_as(Role.BILLING)


def _debit(org, n: int) -> None:
    funds_debit(
        account=account_of(org), amount=Decimal("1"), reference=f"c{n}", description=f"call {n}"
    )


def _link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="\?([^"]*)" rel="{rel}">', html)
    return unescape(found.group(1)) if found else None


def _ids(response) -> list[int]:
    return [e.pk for e in response.context["entries"]]


def test_the_history_page_counts_no_entries(billing_client, org):
    grant(org, "100")
    for n in range(30):
        _debit(org, n)
    with CaptureQueriesContext(connection) as queries:
        first = billing_client.get(URL)
    assert first.status_code == 200
    ledger_counts = [
        q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "billing_ledger" in q["sql"]
    ]
    assert ledger_counts == []
    nxt = _link(first.content.decode(), "next")
    with CaptureQueriesContext(connection) as queries:
        second = billing_client.get(f"{URL}?{nxt}")
    assert second.status_code == 200
    assert not [q for q in queries if "COUNT(" in q["sql"].upper() and "billing_ledger" in q["sql"]]


def test_pages_never_skip_or_repeat_while_entries_arrive(billing_client, org):
    grant(org, "1000")
    for n in range(60):
        _debit(org, n)
    expected = list(
        LedgerEntry.objects.filter(account=account_of(org))
        .order_by("-id")
        .values_list("pk", flat=True)
    )
    seen: list[int] = []
    response = billing_client.get(URL)
    html = response.content.decode()
    assert _link(html, "first") is None and _link(html, "prev") is None
    seen += _ids(response)
    arrived = 100
    while nxt := _link(html, "next"):
        _debit(org, arrived)  # a new entry between two loads: it belongs before page one
        arrived += 1
        response = billing_client.get(f"{URL}?{nxt}")
        html = response.content.decode()
        assert _link(html, "first") is not None
        seen += _ids(response)
    assert seen == expected
    # Newer walks back to the 25 entries just newer than the last page, arrivals and all.
    last = _ids(response)
    now = list(
        LedgerEntry.objects.filter(account=account_of(org))
        .order_by("-id")
        .values_list("pk", flat=True)
    )
    at = now.index(last[0])
    back = billing_client.get(f"{URL}?{_link(html, 'prev')}")
    assert _ids(back) == (now[at - 25 : at] if at > 25 else now[:25])


def test_the_kind_filter_pages_by_cursor(billing_client, org):
    grant(org, "100")
    for n in range(30):
        _debit(org, n)
    first = billing_client.get(URL, {"kind": "usage"})
    nxt = _link(first.content.decode(), "next")
    assert "kind=usage" in nxt
    second = billing_client.get(f"{URL}?{nxt}")
    assert len(_ids(second)) == 5 and all(e.kind == "usage" for e in second.context["entries"])


@pytest.mark.parametrize(
    "cursor",
    [
        "x",
        "",
        "A" * 5000,
        "eyJvIjoibGVkZ2VyIn0:1abc:forged",
        "\x00",
        "%%%",
        "1' OR 1=1 --",
    ],
)
def test_a_hostile_cursor_shows_the_first_page(billing_client, org, cursor):
    grant(org, "100")
    for n in range(30):
        _debit(org, n)
    first = billing_client.get(URL)
    response = billing_client.get(URL, {"cursor": cursor})
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert _ids(response) == _ids(first)


def test_a_cursor_of_the_usage_report_is_not_a_ledger_cursor(billing_client, org):
    grant(org, "100")
    for n in range(30):
        _debit(org, n)
    entry = LedgerEntry.objects.filter(account=account_of(org)).order_by("id").first()
    other = cursor_encode(Order(field="id", descending=True, name="-time"), entry)
    first = billing_client.get(URL)
    assert _ids(billing_client.get(URL, {"cursor": other})) == _ids(first)


def test_another_organisations_cursor_shows_none_of_its_entries(billing_client, org, other_org):
    grant(other_org, "100")
    for n in range(5):
        _debit(other_org, n)
    grant(org, "10")
    theirs = LedgerEntry.objects.filter(account=account_of(other_org)).order_by("-id").first()
    cursor = cursor_encode(LEDGER_ORDER, theirs)
    response = billing_client.get(URL, {"cursor": cursor})
    assert response.status_code == 200
    assert all(e.account_id == account_of(org).pk for e in response.context["entries"])
