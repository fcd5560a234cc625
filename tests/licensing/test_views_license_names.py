"""Licenses read like the vendor's (issue 17, item 7): product names on every page and in every
message, the SKU only as a secondary label; switches in Licenses and apps; a "without license"
filter; pager wording for an alphabetical list; bulk messages that count what really changed."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from credits_portal.models import AuditEvent
from credits_portal.permissions import Role
from licensing.models import Assignment, Product
from tests.builders import licensed_user, make_user, seats

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client_as):
    return client_as(Role.LICENSE)


class _Text(HTMLParser):
    """The text a reader sees: no tags, no attributes (a SKU in a `title` is not shown)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible(html: str, start: str = "", end: str = "") -> str:
    if start:
        html = html[html.index(start) :]
    if end:
        html = html[: html.index(end)]
    parser = _Text()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def messages_of(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


def test_user_list_chips_show_license_names_not_skus(admin, org):
    seats(org, PHONE_SYSTEM=1, CALLING_DOMESTIC=1)
    licensed_user(org, "ana@contoso.example", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    html = admin.get(reverse("licensing:users")).content.decode()
    table = visible(html, "<tbody>", "</tbody>")
    assert "Phone System" in table and "Domestic Calling Plan" in table
    assert "PHONE_SYSTEM" not in table and "CALLING_DOMESTIC" not in table
    # The SKU stays at hand, as a secondary label.
    assert 'title="PHONE_SYSTEM"' in html


def test_filters_and_bulk_choices_offer_names(admin, org):
    html = admin.get(reverse("licensing:users")).content.decode()
    assert '<option value="PHONE_SYSTEM">Phone System</option>' in html
    filters = visible(html, '<form method="get"', "</form>")
    assert "PHONE_SYSTEM" not in filters and "Without license" in filters


def test_user_page_names_licenses_and_missing_prerequisites(admin, org):
    user = make_user(org)
    # Held without its prerequisite (as data from before the rule): the page explains it by name.
    Assignment.objects.create(user=user, product=Product.objects.get(sku="COMMS_CREDITS"))
    html = admin.get(reverse("licensing:user", args=[user.code])).content.decode()
    text = visible(html, "<main", "</main>")
    assert "Communications Credits needs Audio Conferencing or Phone System." in text
    assert "COMMS_CREDITS needs" not in text


def test_licenses_and_apps_are_accessible_switches(admin, org):
    user = make_user(org)
    html = admin.get(reverse("licensing:user", args=[user.code])).content.decode()
    switches = re.findall(r'<input type="checkbox" name="licenses"[^>]*>', html)
    assert len(switches) == Product.objects.count()
    assert all('role="switch"' in s for s in switches)
    # The label is the name alone; the SKU is a secondary label beside it.
    assert re.search(r"<strong>Phone System</strong></label>", html)
    assert "PHONE_SYSTEM" in visible(html, '<ul class="toggles">', "</ul>")


def test_the_without_license_filter(admin, org, other_org):
    seats(org, AUDIO_CONF=5)
    holder = licensed_user(org, "has@contoso.example", "US", "AUDIO_CONF")
    lacking = make_user(org, "lacks@contoso.example")
    make_user(other_org, "lacks@fabrikam.example")
    response = admin.get(reverse("licensing:users"), {"without": "AUDIO_CONF"})
    assert [u.upn for u in response.context["users"]] == [lacking.upn]
    both = admin.get(reverse("licensing:users"), {"without": "AUDIO_CONF", "license": "AUDIO_CONF"})
    assert list(both.context["users"]) == []
    assert holder.upn not in visible(response.content.decode(), "<tbody>", "</tbody>")


def test_the_alphabetical_user_list_pages_with_next_and_previous(admin, org):
    for n in range(60):
        make_user(org, f"p{n:02d}@contoso.example")
    first = admin.get(reverse("licensing:users")).content.decode()
    pager = visible(first, '<nav class="pager"', "</nav>")
    assert "Next" in pager and "Older" not in pager and "Newer" not in pager
    second = admin.get(reverse("licensing:users"), {"page": 2}).content.decode()
    pager = visible(second, '<nav class="pager"', "</nav>")
    assert "Previous" in pager and "Newer" not in pager


def test_bulk_assign_counts_who_already_had_it(admin, org):
    seats(org, PHONE_SYSTEM=6)
    had = [licensed_user(org, f"had{n}@contoso.example", "US", "PHONE_SYSTEM") for n in range(2)]
    new = [make_user(org) for _ in range(4)]
    response = admin.post(
        reverse("licensing:users_bulk"),
        {"users": [str(u.code) for u in had + new], "action": "assign", "sku": "PHONE_SYSTEM"},
    )
    assert messages_of(response) == ["Phone System assigned to 4 users; 2 already had it."]
    assert Assignment.objects.filter(product__sku="PHONE_SYSTEM").count() == 6
    event = AuditEvent.objects.get(action="licenses.bulk_assign")
    assert event.target == "Phone System (PHONE_SYSTEM)"


def test_bulk_remove_counts_who_did_not_have_it(admin, org):
    seats(org, AUDIO_CONF=3)
    holder = licensed_user(org, "has@contoso.example", "US", "AUDIO_CONF")
    others = [make_user(org) for _ in range(2)]
    response = admin.post(
        reverse("licensing:users_bulk"),
        {
            "users": [str(u.code) for u in [holder, *others]],
            "action": "remove",
            "sku": "AUDIO_CONF",
        },
    )
    assert messages_of(response) == ["Audio Conferencing removed from 1 user; 2 did not have it."]
    assert not Assignment.objects.exists()


def test_bulk_assign_to_users_who_all_had_it_says_nothing_changed(admin, org):
    seats(org, AUDIO_CONF=2)
    users = [licensed_user(org, f"u{n}@contoso.example", "US", "AUDIO_CONF") for n in range(2)]
    response = admin.post(
        reverse("licensing:users_bulk"),
        {"users": [str(u.code) for u in users], "action": "assign", "sku": "AUDIO_CONF"},
    )
    assert messages_of(response) == [
        "Audio Conferencing: all 2 selected users already had it; nothing changed."
    ]


def test_a_refused_bulk_change_names_the_license(admin, org):
    seats(org, PHONE_SYSTEM=1)
    users = [make_user(org) for _ in range(2)]
    response = admin.post(
        reverse("licensing:users_bulk"),
        {"users": [str(u.code) for u in users], "action": "assign", "sku": "PHONE_SYSTEM"},
    )
    (message,) = messages_of(response)
    assert message.startswith("Nothing was changed.") and "No Phone System seats left" in message
    assert "PHONE_SYSTEM" not in message


def test_the_license_csv_preview_names_the_licenses(admin, org):
    seats(org, PHONE_SYSTEM=1)
    make_user(org, "a@contoso.example")
    response = admin.post(
        reverse("licensing:licenses_import"),
        {
            "file": SimpleUploadedFile(
                "l.csv", b"upn,assign,remove\na@contoso.example,PHONE_SYSTEM,\n", "text/csv"
            )
        },
    )
    html = admin.get(response["Location"]).content.decode()
    rows = visible(html, "<tbody>", "</tbody>")
    assert "Phone System" in rows and "PHONE_SYSTEM" not in rows
