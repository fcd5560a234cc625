"""Users › select all matching the filter (issue 17, item 7): across pages, with a count and a
confirmation; applied to exactly the filter's users of the organisation, all or nothing."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from credits_portal.models import AuditEvent
from credits_portal.permissions import Role
from licensing.models import Assignment, DirectoryUser
from tests.builders import licensed_user, make_user, seats

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client_as):
    return client_as(Role.LICENSE)


def hidden_fields(html: str, action: str) -> dict[str, str]:
    """The hidden fields of the form posting to `action`, as the browser would send them."""
    form = re.search(rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', html, re.S)
    assert form, f"no form posting to {action}"
    return {
        unescape(name): unescape(value)
        for name, value in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(1)
        )
    }


def messages_of(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


@pytest.fixture
def directory(org, other_org):
    """120 users of the organisation, half in GB; GB users of another organisation too."""
    seats(org, AUDIO_CONF=200)
    for n in range(120):
        make_user(org, f"p{n:03d}@contoso.example", country="GB" if n % 2 else "US")
    for n in range(3):
        make_user(other_org, f"p{n:03d}@fabrikam.example", country="GB")


def ask(admin, query: str, action: str = "assign", sku: str = "AUDIO_CONF"):
    return admin.post(
        reverse("licensing:users_bulk_matching"), {"query": query, "action": action, "sku": sku}
    )


def test_the_users_page_offers_every_matching_user_with_the_count(admin, org, directory):
    html = admin.get(reverse("licensing:users"), {"location": "GB"}).content.decode()
    assert "all 60 users matching the filter" in html
    assert f'formaction="{reverse("licensing:users_bulk_matching")}"' in html


def test_select_all_matching_asks_first_then_applies_to_exactly_the_filters_users(
    admin, org, other_org, directory
):
    licensed_user(org, "had@contoso.example", "GB", "AUDIO_CONF")
    asked = ask(admin, "location=GB&page=2")
    assert asked.status_code == 200
    page = asked.content.decode()
    assert "61 users" in page and "1 already has it" in page
    assert not Assignment.objects.exclude(user__upn="had@contoso.example").exists()

    fields = hidden_fields(page, reverse("licensing:users_bulk_matching_confirm"))
    applied = admin.post(reverse("licensing:users_bulk_matching_confirm"), fields)
    assert applied.status_code == 302 and "location=GB" in applied["Location"]
    assert messages_of(applied) == ["Audio Conferencing assigned to 60 users; 1 already had it."]
    holders = set(
        Assignment.objects.filter(product__sku="AUDIO_CONF").values_list("user__pk", flat=True)
    )
    expected = set(
        DirectoryUser.objects.filter(organisation=org, usage_location="GB").values_list(
            "pk", flat=True
        )
    )
    assert holders == expected and len(holders) == 61
    assert not Assignment.objects.filter(user__organisation=other_org).exists()
    event = AuditEvent.objects.get(action="licenses.bulk_assign")
    assert event.after["matching"] == "location=GB" and len(event.after["users"]) == 61


def test_remove_from_all_matching(admin, org, directory):
    for n in range(3):
        licensed_user(org, f"h{n}@contoso.example", "JP", "AUDIO_CONF")
    page = ask(admin, "location=JP", action="remove").content.decode()
    fields = hidden_fields(page, reverse("licensing:users_bulk_matching_confirm"))
    applied = admin.post(reverse("licensing:users_bulk_matching_confirm"), fields)
    assert messages_of(applied) == ["Audio Conferencing removed from 3 users."]
    assert not Assignment.objects.exists()


def test_nothing_is_applied_without_the_confirmation(admin, org, directory):
    response = admin.post(
        reverse("licensing:users_bulk_matching_confirm"),
        {"query": "location=GB", "action": "assign", "sku": "AUDIO_CONF"},
    )
    assert response.status_code == 400
    assert not Assignment.objects.exists()


def test_a_filter_matching_other_users_by_then_asks_again(admin, org, directory):
    page = ask(admin, "location=GB").content.decode()
    fields = hidden_fields(page, reverse("licensing:users_bulk_matching_confirm"))
    make_user(org, "late@contoso.example", country="GB")
    again = admin.post(reverse("licensing:users_bulk_matching_confirm"), fields)
    assert again.status_code == 409 and not Assignment.objects.exists()
    html = again.content.decode()
    assert "61 users" in html and "changed" in html
    fields = hidden_fields(html, reverse("licensing:users_bulk_matching_confirm"))
    admin.post(reverse("licensing:users_bulk_matching_confirm"), fields)
    assert Assignment.objects.count() == 61


def test_all_or_nothing_when_seats_run_short(admin, org, directory):
    seats(org, PHONE_SYSTEM=59)
    page = ask(admin, "location=GB", sku="PHONE_SYSTEM").content.decode()
    fields = hidden_fields(page, reverse("licensing:users_bulk_matching_confirm"))
    applied = admin.post(reverse("licensing:users_bulk_matching_confirm"), fields)
    (message,) = messages_of(applied)
    assert message.startswith("Nothing was changed.") and "No Phone System seats left" in message
    assert not Assignment.objects.exists()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("license=NOT_A_SKU", "License"),
        ("without=NOT_A_SKU", "Without license"),
        ("location=ZZ", "Usage location"),
        ("q=%00", "Search"),
        ("q=" + "x" * 2000, "Search"),
    ],
)
def test_an_invalid_filter_is_refused_naming_the_field(admin, org, directory, query, field):
    response = ask(admin, query)
    assert response.status_code == 400 and field in response.content.decode()
    assert not Assignment.objects.exists()


def test_an_unknown_license_or_action_is_refused(admin, org, directory):
    assert ask(admin, "location=GB", sku="NOPE").status_code == 400
    assert ask(admin, "location=GB", action="delete").status_code == 400
    assert not Assignment.objects.exists()


def test_an_empty_filter_means_every_user_of_the_organisation_only(
    admin, org, other_org, directory
):
    page = ask(admin, "").content.decode()
    assert "120 users" in page
    fields = hidden_fields(page, reverse("licensing:users_bulk_matching_confirm"))
    admin.post(reverse("licensing:users_bulk_matching_confirm"), fields)
    assert Assignment.objects.filter(user__organisation=org).count() == 120
    assert not Assignment.objects.filter(user__organisation=other_org).exists()


@pytest.mark.parametrize("role", [Role.BILLING, Role.REPORTS])
def test_roles_without_license_management_may_not(client_as, org, directory, role):
    client = client_as(role)
    assert ask(client, "location=GB").status_code == 403
    assert (
        client.post(
            reverse("licensing:users_bulk_matching_confirm"),
            {"query": "location=GB", "action": "assign", "sku": "AUDIO_CONF", "matching": "x"},
        ).status_code
        == 403
    )
    assert not Assignment.objects.exists()


def test_a_global_admin_may(client_as, org, directory):
    page = ask(client_as(Role.GLOBAL), "location=US").content.decode()
    assert "60 users" in page


@pytest.mark.parametrize("url_name", ["users_bulk_matching", "users_bulk_matching_confirm"])
def test_hostile_values_in_any_field_answer_4xx(admin, org, url_name):
    from tests.credits_portal.test_hostile_walk import HOSTILE, query_string, wire

    seats(org, AUDIO_CONF=1)
    make_user(org)
    good = {"query": "location=US", "action": "assign", "sku": "AUDIO_CONF"}
    if url_name.endswith("confirm"):
        good["matching"] = "x"  # the asking page reads no fingerprint
    values = {
        **{f: HOSTILE for f in good},
        "query": [
            f"{p}={wire(v)}"
            for v in HOSTILE
            for p in ("q", "license", "without", "location", "sort", "page")
        ],
    }
    for field, hostile in values.items():
        for value in hostile:
            response = admin.post(
                reverse(f"licensing:{url_name}"),
                query_string({**good, field: value}),
                content_type="application/x-www-form-urlencoded",
            )
            assert 400 <= response.status_code < 500 or (
                field == "query" and response.status_code in (200, 409)
            ), (field, value[:20], response.status_code)
    assert not Assignment.objects.exists()


def test_without_a_filter_every_user_is_offered(admin, org, directory):
    html = admin.get(reverse("licensing:users")).content.decode()
    assert "Apply to all 120 users…" in html


def test_an_invalid_filter_offers_no_all_matching(admin, org, directory):
    html = admin.get(reverse("licensing:users"), {"license": "NOPE"}).content.decode()
    assert reverse("licensing:users_bulk_matching") not in html
