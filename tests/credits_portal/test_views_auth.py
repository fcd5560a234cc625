"""Login, lockout, logout, password change and reset by email, organisation switcher."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from credits_portal.permissions import Role
from tests.builders import PASSWORD, make_member

pytestmark = pytest.mark.django_db


def login(client: Client, email: str, password: str):
    return client.post(
        reverse("login"), {"username": email, "password": password}, REMOTE_ADDR="10.0.0.7"
    )


def test_anonymous_is_sent_to_login(client, org):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_with_the_right_password_shows_home(client, members):
    user = members[Role.GLOBAL]
    response = login(client, user.email, PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("home")
    page = client.get(reverse("home"))
    assert page.status_code == 200
    assert b"Contoso Ltd" in page.content and b"Global admin" in page.content


def test_wrong_password_is_refused(client, members):
    response = login(client, members[Role.GLOBAL].email, "wrong-password-here")
    assert response.status_code == 200
    assert b"correct email and password" in response.content
    assert "_auth_user_id" not in client.session


def test_repeated_failures_lock_the_account_out(client, members):
    email = members[Role.GLOBAL].email
    for _ in range(5):
        login(client, email, "wrong-password-here")
    locked = login(client, email, PASSWORD)
    assert locked.status_code == 429
    assert b"Too many failed sign-in attempts" in locked.content
    assert "_auth_user_id" not in client.session


def test_logout_needs_a_post_and_ends_the_session(client_as):
    client = client_as(Role.REPORTS)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_password_change(client, members):
    user = members[Role.LICENSE]
    client.force_login(user)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "Another-Long-Pass-77",
            "new_password2": "Another-Long-Pass-77",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("Another-Long-Pass-77")


def test_password_change_refuses_a_weak_password(client, members):
    user = members[Role.LICENSE]
    client.force_login(user)
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "password", "new_password2": "password"},
    )
    assert response.status_code == 200
    assert b"too short" in response.content
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def _reset_link(client: Client, email: str) -> str:
    response = client.post(reverse("password_reset"), {"email": email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [email]
    return re.search(r"https?://[^/]+(/password/reset/\S+/)", mail.outbox[0].body).group(1)


def test_password_reset_by_email(client, members):
    user = members[Role.BILLING]
    link = _reset_link(client, user.email)
    form = client.get(link, follow=True)
    assert b"Set a new password" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "Brand-New-Pass-2026", "new_password2": "Brand-New-Pass-2026"},
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("Brand-New-Pass-2026")
    again = client.get(link, follow=True)
    assert b"This link no longer works" in again.content, "a reset link works once"


def test_password_reset_link_expires(client, members):
    user = members[Role.BILLING]
    link = _reset_link(client, user.email)
    with time_machine.travel(timezone.now() + timedelta(hours=4)):
        page = client.get(link, follow=True)
    assert b"This link no longer works" in page.content


def test_password_reset_for_an_unknown_address_sends_nothing(client, org):
    response = client.post(reverse("password_reset"), {"email": "nobody@nowhere.example"})
    assert response.status_code == 302
    assert mail.outbox == []


def test_switcher_moves_between_own_organisations_only(client, org, other_org):
    third = make_member(other_org, Role.REPORTS)  # someone else's organisation membership
    user = make_member(org, Role.GLOBAL)
    user = make_member(other_org, Role.BILLING, email=user.email)
    client.force_login(user)
    assert b"Contoso Ltd" in client.get(reverse("home")).content
    response = client.post(reverse("switch_organisation"), {"organisation": "fabrikam"})
    assert response.status_code == 302
    page = client.get(reverse("home"))
    assert b"<h1>Fabrikam GmbH</h1>" in page.content and b"Billing admin" in page.content

    outsider = Client()
    outsider.force_login(make_member(org, Role.GLOBAL))
    assert (
        outsider.post(reverse("switch_organisation"), {"organisation": "fabrikam"}).status_code
        == 404
    )
    assert third.memberships.get().organisation == other_org


def test_a_login_without_membership_is_refused(client, db):
    from credits_portal.models import User

    client.force_login(User.objects.create_user("loner@example.com", PASSWORD))
    assert client.get(reverse("home")).status_code == 403
