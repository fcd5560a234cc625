"""Users › every user matching a filter, in a real browser (issue 17, item 7): the count across
pages, the confirmation, then the change; license names on the page and in the message."""

from __future__ import annotations

import pytest

from credits_portal.permissions import Role
from licensing.models import Assignment
from tests.browser.conftest import sign_in
from tests.builders import PASSWORD, make_member, make_user, seats

pytestmark = pytest.mark.django_db(transaction=True)


def test_assign_a_license_to_every_user_matching_the_filter(page, look, org, other_org):
    seats(org, AUDIO_CONF=100)
    for n in range(70):
        make_user(org, f"p{n:03d}@contoso.example", country="GB" if n < 60 else "US")
    make_user(other_org, "p000@fabrikam.example", country="GB")
    sign_in(page, make_member(org, Role.LICENSE).email, PASSWORD)
    page.goto("/users/")
    page.select_option("#id_location", "GB")
    page.click("form.filters button:has-text('Apply')")
    assert "60 users match the filter." in page.inner_text("main")
    assert page.locator("nav.pager").inner_text().split() == ["Page", "1", "of", "2", "Next"]
    look("users-filtered")

    page.select_option("#bulk-sku", label="Audio Conferencing")
    page.click("#bulk-matching")
    assert page.inner_text("h1") == "Assign Audio Conferencing to 60 users?"
    assert not Assignment.objects.exists(), "the confirmation changes nothing"
    look("users-select-all-confirm")

    page.click("main button:has-text('Assign to 60 users')")
    assert page.inner_text(".messages").strip() == "Audio Conferencing assigned to 60 users."
    chips = page.locator("main tbody tr").first.locator(".tag-sku")
    assert chips.all_inner_texts() == ["Audio Conferencing"]
    look("users-select-all-done")
    assert set(Assignment.objects.values_list("user__usage_location", "user__organisation")) == {
        ("GB", org.pk)
    }
    assert Assignment.objects.count() == 60

    page.click("main tbody tr >> nth=0 >> a")
    switch = page.get_by_role("switch", name="Audio Conferencing")
    assert switch.is_checked()
    look("user-license-switches")
