"""Licenses, Users, Licenses and apps, bulk selection and CSV uploads, as an admin uses them."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from credits_portal.permissions import Role
from licensing.models import Assignment, CsvUpload, DirectoryUser
from licensing.validation import MAX_CSV_BYTES
from tests.builders import make_user, seats

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client_as):
    return client_as(Role.LICENSE)


def test_licenses_page_shows_seats(admin, org):
    seats(org, PHONE_SYSTEM=10)
    user = make_user(org)
    Assignment.objects.create(
        user=user, product_id=2
    )  # not through the service: only the page is tested
    page = admin.get(reverse("licensing:licenses")).content.decode()
    assert "Phone System" in page and "?license=PHONE_SYSTEM" in page


def test_users_page_searches_filters_sorts_and_pages(admin, org):
    seats(org, AUDIO_CONF=100)
    for n in range(60):
        make_user(org, f"person{n:02d}@contoso.example", country="GB" if n % 2 else "US")
    make_user(org, "zed@contoso.example", country="JP")
    listing = admin.get(reverse("licensing:users"))
    assert listing.context["users"].paginator.count == 61 and len(listing.context["users"]) == 50
    found = admin.get(reverse("licensing:users"), {"q": "person07"})
    assert [u.upn for u in found.context["users"]] == ["person07@contoso.example"]
    japan = admin.get(reverse("licensing:users"), {"location": "JP"})
    assert [u.upn for u in japan.context["users"]] == ["zed@contoso.example"]
    by_upn = admin.get(reverse("licensing:users"), {"sort": "-upn"})
    assert by_upn.context["users"][0].upn == "zed@contoso.example"
    assert (
        admin.get(reverse("licensing:users"), {"location": "nowhere", "page": "x"}).status_code
        == 200
    )


def test_licenses_and_apps_saves_all_or_nothing_and_explains_refusals(admin, org):
    seats(org, PHONE_SYSTEM=5, CALLING_DOMESTIC=5, COMMS_CREDITS=5)
    user = make_user(org)
    url = reverse("licensing:user", args=[user.code])
    refused = admin.post(url, {"licenses": ["CALLING_DOMESTIC", "COMMS_CREDITS"]})
    assert refused.status_code == 200
    html = refused.content.decode()
    assert "Domestic Calling Plan needs Phone System." in html
    assert "Communications Credits needs Audio Conferencing or Phone System." in html
    assert 'aria-invalid="true"' in html and not Assignment.objects.exists()
    saved = admin.post(url, {"licenses": ["PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS"]})
    assert saved.status_code == 302
    page = admin.get(url).content.decode()
    assert (
        "Assigned Communications Credits" in page and "license-" in page
    )  # history with the actor


def test_bulk_assign_to_selected_users(admin, org):
    seats(org, AUDIO_CONF=2)
    users = [make_user(org) for _ in range(3)]
    response = admin.post(
        reverse("licensing:users_bulk"),
        {"users": [str(u.code) for u in users], "action": "assign", "sku": "AUDIO_CONF"},
    )
    assert response.status_code == 302 and not Assignment.objects.exists()
    admin.post(
        reverse("licensing:users_bulk"),
        {"users": [str(u.code) for u in users[:2]], "action": "assign", "sku": "AUDIO_CONF"},
    )
    assert Assignment.objects.count() == 2


def test_bulk_refuses_another_organisations_users(admin, org, other_org):
    seats(org, AUDIO_CONF=2)
    theirs = make_user(other_org)
    admin.post(
        reverse("licensing:users_bulk"),
        {"users": [str(theirs.code)], "action": "assign", "sku": "AUDIO_CONF"},
    )
    assert not Assignment.objects.exists()


def upload(client, url_name: str, content: bytes, name: str = "f.csv"):
    return client.post(reverse(url_name), {"file": SimpleUploadedFile(name, content, "text/csv")})


def test_import_users_preview_then_apply(admin, org):
    content = b"upn,display_name,usage_location\n" + b"".join(
        f"u{n}@contoso.example,User {n},DE\n".encode() for n in range(100)
    )
    response = upload(admin, "licensing:users_import", content)
    assert response.status_code == 302
    preview = admin.get(response["Location"])
    assert b"100 rows ready" in preview.content and not DirectoryUser.objects.exists()
    admin.post(response["Location"])
    assert DirectoryUser.objects.filter(organisation=org, usage_location="DE").count() == 100
    assert admin.post(response["Location"]).status_code == 404, "an upload applies once"


def test_assign_100_users_by_csv(admin, org):
    seats(org, PHONE_SYSTEM=100, CALLING_INTL=100, COMMS_CREDITS=100)
    for n in range(100):
        make_user(org, f"u{n}@contoso.example")
    content = b"upn,assign,remove\n" + b"".join(
        f"u{n}@contoso.example,PHONE_SYSTEM;CALLING_INTL;COMMS_CREDITS,\n".encode()
        for n in range(100)
    )
    preview_url = upload(admin, "licensing:licenses_import", content)["Location"]
    assert admin.post(preview_url).status_code == 302
    assert Assignment.objects.count() == 300


def test_a_refused_csv_applies_nothing_and_says_who(admin, org):
    seats(org, PHONE_SYSTEM=1)
    make_user(org, "a@contoso.example")
    make_user(org, "b@contoso.example")
    preview_url = upload(
        admin,
        "licensing:licenses_import",
        b"upn,assign,remove\na@contoso.example,PHONE_SYSTEM,\nb@contoso.example,PHONE_SYSTEM,\nc@contoso.example,PHONE_SYSTEM,\n",
    )["Location"]
    page = admin.post(preview_url)
    assert page.status_code == 409 and b"Nothing was applied" in page.content
    assert b"No such user" in page.content and not Assignment.objects.exists()
    assert CsvUpload.objects.get().applied_at is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name,email\nx,y\n", b"header must be"),
        ("upn,display_name,usage_location\nb\xe9@x.example,B,US\n".encode("latin-1"), b"not UTF-8"),
        (b"upn,display_name,usage_location\n" + b"x" * (MAX_CSV_BYTES + 10), b"larger than"),
    ],
)
def test_bad_files_are_refused_on_the_form(admin, org, content, message):
    response = upload(admin, "licensing:users_import", content)
    assert response.status_code == 200 and message in response.content
    assert not CsvUpload.objects.exists()


def test_row_errors_show_in_the_preview_and_block_apply(admin, org):
    content = (
        b"upn,display_name,usage_location,phone_number\n"
        b"a@x.example,A,US,\na@x.example,A,US,\nb@x.example,B,US,555\n"
    )
    url = upload(admin, "licensing:users_import", content)["Location"]
    page = admin.get(url)
    assert b"E.164" in page.content and b"Duplicate of line 2" in page.content
    admin.post(url)
    assert not DirectoryUser.objects.exists()


def test_billing_admins_and_report_readers_may_not_assign(client_as, org):
    user = make_user(org)
    for role in (Role.BILLING, Role.REPORTS):
        assert (
            client_as(role)
            .post(reverse("licensing:user", args=[user.code]), {"licenses": ["AUDIO_CONF"]})
            .status_code
            == 403
        )
    assert not Assignment.objects.exists()


# Finding 3 of issue 14: files whose preview said "ready" and whose Apply answered 500.
def test_a_nul_in_a_user_csv_is_refused_on_the_form(admin, org):
    content = b"upn,display_name,usage_location\na@x.example,A\x00B,US\n"
    response = upload(admin, "licensing:users_import", content)
    assert response.status_code == 200 and b"Line 2 holds a NUL character" in response.content
    assert not CsvUpload.objects.exists()


def test_control_characters_in_cells_are_row_errors(admin, org):
    content = "upn,display_name,usage_location\na@x.example,A\x01B,US\nb@x.example,B,US\n"
    url = upload(admin, "licensing:users_import", content.encode())["Location"]
    page = admin.get(url).content.decode()
    assert "display_name: The cell must not contain control characters (U+0001 found)." in page
    assert admin.post(url).status_code == 400 and not DirectoryUser.objects.exists()


def test_a_upn_over_254_characters_is_a_row_error_and_apply_is_refused(admin, org):
    long_upn = "a" * 290 + "@x.example"
    content = f"upn,display_name,usage_location\n{long_upn},A,US\nb@x.example,B,US\n"
    url = upload(admin, "licensing:users_import", content.encode())["Location"]
    page = admin.get(url)
    assert b"A UPN has at most 254 characters." in page.content
    assert b"rows ready" not in page.content
    applied = admin.post(url)
    assert applied.status_code == 400 and b"Nothing was applied" in applied.content
    assert not DirectoryUser.objects.exists()


def test_a_license_csv_naming_unknown_skus_lists_every_row(admin, org):
    seats(org, AUDIO_CONF=5)
    make_user(org, "a@contoso.example")
    make_user(org, "b@contoso.example")
    content = (
        b"upn,assign,remove\na@contoso.example,NOT_A_SKU,\nb@contoso.example,AUDIO_CONF,ALSO_NOT\n"
    )
    url = upload(admin, "licensing:licenses_import", content)["Location"]
    page = admin.get(url).content.decode()
    assert "rows ready" not in page
    assert (
        "assign: Unknown license NOT_A_SKU" in page and "remove: Unknown license ALSO_NOT" in page
    )
    applied = admin.post(url)
    assert applied.status_code == 400 and b"Nothing was applied" in applied.content
    assert not Assignment.objects.exists() and CsvUpload.objects.get().applied_at is None


def test_the_preview_lists_the_refusals_apply_would_meet(admin, org):
    seats(org, PHONE_SYSTEM=1)
    make_user(org, "a@contoso.example")
    make_user(org, "b@contoso.example")
    url = upload(
        admin,
        "licensing:licenses_import",
        b"upn,assign,remove\na@contoso.example,PHONE_SYSTEM,\nb@contoso.example,PHONE_SYSTEM,\n"
        b"c@contoso.example,AUDIO_CONF,\n",
    )["Location"]
    page = admin.get(url)
    assert page.status_code == 200 and b"rows ready" not in page.content
    assert b"Nothing can be applied as things stand" in page.content
    assert b"No such user" in page.content and b"Apply all" not in page.content
    assert b"No Phone System seats left (0 of 1 assigned; this needs 2)" in page.content
    assert not Assignment.objects.exists()
