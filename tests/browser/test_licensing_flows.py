"""Licenses and apps in a real browser: one user at a time, with the prerequisite refused and
explained, then 100 users from CSV uploads, previewed before they are applied."""

from __future__ import annotations

import pytest

from credits_portal.permissions import Role
from licensing.models import Assignment, DirectoryUser, Subscription
from tests.browser.conftest import sign_in
from tests.builders import PASSWORD, make_member, make_user, seats

pytestmark = pytest.mark.django_db(transaction=True)


def held_by(user) -> set[str]:
    return set(Assignment.objects.filter(user=user).values_list("product__sku", flat=True))


def toggle(page, *names: str) -> None:
    for name in names:
        page.get_by_label(name, exact=True).check()
    page.click("main button:has-text('Save')")


def test_licenses_and_apps_for_one_user_with_a_missing_prerequisite(page, look, org):
    seats(org, PHONE_SYSTEM=2, CALLING_DOMESTIC=2, COMMS_CREDITS=2)
    ben = make_user(org, "ben@contoso.example")
    sign_in(page, make_member(org, Role.LICENSE).email, PASSWORD)
    page.click("nav.side >> text=Users")
    look("users")
    page.click(f"text={ben.display_name}")
    look("user-licenses")

    # The calling plan and credits without Phone System: refused, nothing saved, each explained.
    toggle(page, "Domestic Calling Plan", "Communications Credits")
    assert "Nothing was saved" in page.inner_text(".messages")
    assert page.inner_text("#why-CALLING_DOMESTIC") == "Domestic Calling Plan needs Phone System."
    assert "needs Audio Conferencing or Phone System" in page.inner_text("#why-COMMS_CREDITS")
    invalid = page.get_by_label("Domestic Calling Plan", exact=True)
    assert invalid.get_attribute("aria-invalid") == "true"
    look("user-licenses-refused")
    assert held_by(ben) == set()

    page.reload()  # the form as saved, not as last submitted
    toggle(page, "Phone System")
    assert f"Licenses of {ben.display_name} saved." in page.inner_text(".messages")
    toggle(page, "Domestic Calling Plan", "Communications Credits")
    assert f"Licenses of {ben.display_name} saved." in page.inner_text(".messages")
    for name in ["Phone System", "Domestic Calling Plan", "Communications Credits"]:
        assert page.get_by_label(name, exact=True).is_checked()
    history = page.inner_text("table[aria-labelledby=hist-h]")
    assert "Assigned Communications Credits" in history and "Assigned Phone System" in history
    look("user-licensed")
    assert held_by(ben) == {"PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS"}


def upload_csv(page, name: str, content: str) -> None:
    page.set_input_files(
        "#id_file", files=[{"name": name, "mimeType": "text/csv", "buffer": content.encode()}]
    )
    page.click("text=Upload and preview")


def test_100_users_imported_then_licensed_from_csv(page, look, org):
    seats(org, PHONE_SYSTEM=100, CALLING_DOMESTIC=100, COMMS_CREDITS=100)
    sign_in(page, make_member(org, Role.LICENSE).email, PASSWORD)
    page.goto("/users/")

    page.click("text=Import users from CSV")
    upload_csv(
        page,
        "people.csv",
        "upn,display_name,usage_location\n"
        + "".join(f"p{n:03d}@contoso.example,Person {n:03d},GB\n" for n in range(100)),
    )
    assert "100 rows ready." in page.inner_text("main")
    assert not DirectoryUser.objects.exists(), "a preview changes nothing"
    look("users-import-preview")
    page.click("text=Apply all 100 rows")
    assert "100 rows of people.csv applied." in page.inner_text(".messages")
    assert "100 users." in page.inner_text("main")

    page.click("text=Assign licenses from CSV")
    look("licenses-import")
    upload_csv(
        page,
        "licenses.csv",
        "upn,assign,remove\n"
        + "".join(
            f"p{n:03d}@contoso.example,PHONE_SYSTEM;CALLING_DOMESTIC;COMMS_CREDITS,\n"
            for n in range(100)
        ),
    )
    assert "100 rows ready." in page.inner_text("main")
    first = page.locator("main table tbody tr").first.inner_text()
    assert "p000@contoso.example" in first and "Communications Credits" in first
    assert not Assignment.objects.exists(), "a preview changes nothing"
    look("licenses-import-preview")
    page.click("text=Apply all 100 rows")
    assert "100 rows of licenses.csv applied." in page.inner_text(".messages")

    page.click("nav.side >> text=Licenses")
    row = page.locator("main tbody tr").filter(has_text="COMMS_CREDITS")
    assert row.locator("td.num").all_inner_texts() == ["100", "100", "0"]
    look("licenses")
    assert Assignment.objects.count() == 300
    assert set(Subscription.objects.values_list("assigned", flat=True)) == {100}
