"""Finding 3 of issue 14, the portal's part: each request that answered 500 now answers a 400
naming its field (credits_portal.validation), and a value no column can hold is refused by the
form in front of it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from billing.models import BillingContact
from credits_portal.permissions import Role
from credits_portal.validation import date_problem, text_problem
from tests.builders import make_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("address", "field"),
    [
        ("/users/?q=%00", "q"),
        ("/reports/usage/?user=%00", "user"),
        ("/reports/usage/?type=%00", "type"),
        ("/reports/usage/export.csv?user=%00", "user"),
        ("/settings/audit-log/?action=%00", "action"),
        ("/billing/statements/?month=%00", "month"),
        ("/users/?q%00=1", "parameter name"),
        ("/users/?q=" + "x" * 1001, "q"),
        ("/reports/usage/records/%00", "path"),
        ("/reports/usage/records/a%01b", "path"),
    ],
)
def test_nul_control_characters_and_long_values_answer_400_naming_the_field(
    client_as, org, address, field
):
    response = client_as(Role.GLOBAL).get(address)
    assert response.status_code == 400
    assert f"<strong>{field}</strong>".encode() in response.content


def test_a_lone_surrogate_never_reaches_a_view(client_as, org):
    # Browsers and the test client can only send UTF-8; the bytes of a lone surrogate decode to
    # U+FFFD, which is text like any other.
    response = client_as(Role.GLOBAL).get("/users/?q=%ED%A0%80")
    assert response.status_code == 200
    assert text_problem("\ud800") and text_problem("a\x00") and text_problem("\x7f")
    assert text_problem("tab\tand\r\nnewlines are text") is None


def test_form_fields_and_file_names_are_checked_too(client_as, org):
    client = client_as(Role.BILLING)
    response = client.post(reverse("billing:contact_add"), {"email": "a@x.example", "name": "\x00"})
    assert response.status_code == 400 and b"<strong>name</strong>" in response.content
    assert not BillingContact.objects.exists()


def test_a_nul_in_the_session_cookie_is_refused(org):
    client = Client()
    client.cookies["sessionid"] = "abcdefgh\x00"
    response = client.get(reverse("home"))
    assert response.status_code == 400 and b"cookie sessionid" in response.content


def test_a_billing_contact_email_over_254_characters_is_a_form_error(client_as, org):
    email = "a" * 250 + "@x.example"
    response = client_as(Role.BILLING).post(reverse("billing:contact_add"), {"email": email})
    assert response.status_code == 200
    assert "at most 254 characters" in str(response.context["form"].errors["email"])
    assert not BillingContact.objects.exists()


def test_a_sign_in_address_over_254_characters_is_a_form_error(org):
    response = Client().post(
        reverse("login"), {"username": "a" * 250 + "@x.example", "password": "x"}
    )
    assert response.status_code == 200
    assert "username" in response.context["form"].errors


def test_record_ids_of_any_length_answer_404(client_as, org):
    make_user(org)
    response = client_as(Role.REPORTS).get(reverse("usage:record", args=["x" * 1500]))
    assert response.status_code == 404


def test_dates_outside_the_portal_are_named():
    from datetime import date

    assert date_problem(date(1, 1, 1)) and date_problem(date(9999, 12, 31))
    assert date_problem(date(2026, 2, 28)) is None
