"""Users › a user › Edit details (issue 17, item 7): display name, usage location and phone
number, checked as POST /api/v1/users checks them, scoped to the organisation, audit-logged."""

from __future__ import annotations

import pytest
from django.urls import reverse

from credits_portal.models import AuditEvent
from credits_portal.permissions import Role
from licensing.models import DirectoryUser
from tests.builders import make_user

pytestmark = pytest.mark.django_db

VALID = {"display_name": "Ana Silva", "usage_location": "GB", "phone_number": "+14255550100"}


@pytest.fixture
def admin(client_as):
    return client_as(Role.LICENSE)


def edit_url(user) -> str:
    return reverse("licensing:user_edit", args=[user.code])


def test_the_user_page_links_to_the_edit_form_with_current_values(admin, org):
    user = make_user(org, "ana@contoso.example", country="US")
    assert edit_url(user) in admin.get(reverse("licensing:user", args=[user.code])).content.decode()
    form = admin.get(edit_url(user))
    assert form.status_code == 200
    html = form.content.decode()
    assert f'value="{user.display_name}"' in html and '<option value="US" selected>' in html


def test_details_are_saved_and_audit_logged(admin, org):
    user = make_user(org, "ana@contoso.example", country="US")
    response = admin.post(edit_url(user), VALID)
    assert response.status_code == 302
    assert response["Location"] == reverse("licensing:user", args=[user.code])
    user.refresh_from_db()
    assert (user.display_name, user.usage_location.code, user.phone_number) == (
        "Ana Silva",
        "GB",
        "+14255550100",
    )
    assert user.upn == "ana@contoso.example", "the UPN is the user's key: not editable here"
    event = AuditEvent.objects.get(action="users.updated")
    assert event.target == "ana@contoso.example" and event.organisation == org
    assert event.before["usage_location"] == "US" and event.after["usage_location"] == "GB"
    assert event.after["phone_number"] == "+14255550100"


def test_the_phone_number_can_be_cleared(admin, org):
    user = make_user(org)
    DirectoryUser.objects.filter(pk=user.pk).update(phone_number="+14255550100")
    admin.post(edit_url(user), {**VALID, "phone_number": ""})
    user.refresh_from_db()
    assert user.phone_number == ""


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone_number", "555", "E.164"),
        ("phone_number", "+1 425 555 0100", "E.164"),
        ("phone_number", "+" + "9" * 30, "at most 20"),
        ("usage_location", "XX", "ISO 3166"),
        ("usage_location", "", "required"),
        ("usage_location", "GBR", "at most 2"),
        ("usage_location", "x" * 10_000, None),
        ("display_name", "", "required"),
        ("display_name", "   ", "required"),
        ("display_name", "x" * 201, "at most 200"),
        ("display_name", "A\x01B", None),  # the edge middleware: a 400 naming the field
        ("display_name", "A\x00B", None),
    ],
)
def test_hostile_values_answer_400_naming_the_field(admin, org, field, value, message):
    user = make_user(org, country="US")
    before = DirectoryUser.objects.values().get(pk=user.pk)
    response = admin.post(edit_url(user), {**VALID, field: value})
    assert response.status_code == 400, response.status_code
    if message is None:
        assert field in response.content.decode()
    else:
        errors = response.context["form"].errors
        assert list(errors) == [field] and message in " ".join(errors[field])
    assert DirectoryUser.objects.values().get(pk=user.pk) == before
    assert not AuditEvent.objects.filter(action="users.updated").exists()


def test_an_odd_but_plain_name_is_a_name(admin, org):
    user = make_user(org)
    assert admin.post(edit_url(user), {**VALID, "display_name": "[] {} -1"}).status_code == 302
    user.refresh_from_db()
    assert user.display_name == "[] {} -1"


def test_every_invalid_field_is_named_at_once(admin, org):
    user = make_user(org)
    response = admin.post(
        edit_url(user), {"display_name": "", "usage_location": "XX", "phone_number": "555"}
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"display_name", "usage_location", "phone_number"}


def test_another_organisations_user_answers_404(admin, org, other_org):
    theirs = make_user(other_org, "ana@fabrikam.example", country="DE")
    assert admin.get(edit_url(theirs)).status_code == 404
    assert admin.post(edit_url(theirs), VALID).status_code == 404
    theirs.refresh_from_db()
    assert theirs.display_name != "Ana Silva" and theirs.usage_location.code == "DE"


@pytest.mark.parametrize("role", [Role.BILLING, Role.REPORTS])
def test_only_license_managers_may_edit(client_as, org, role):
    user = make_user(org)
    client = client_as(role)
    assert client.get(edit_url(user)).status_code == 403
    assert client.post(edit_url(user), VALID).status_code == 403
    user.refresh_from_db()
    assert user.display_name != "Ana Silva"


def test_a_global_admin_may_edit(client_as, org):
    user = make_user(org)
    assert client_as(Role.GLOBAL).post(edit_url(user), VALID).status_code == 302
