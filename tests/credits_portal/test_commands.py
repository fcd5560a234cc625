"""The management commands of API.md that belong to the tenancy layer."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from credits_portal.models import ApiKey, Membership, Organisation, User
from credits_portal.services import api_key_authenticate

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_org_with_defaults():
    run("create_org", "contoso", "--name", "Contoso Ltd")
    organisation = Organisation.objects.get(slug="contoso")
    assert (str(organisation.currency), organisation.country.code, organisation.commerce) == (
        "USD",
        "US",
        "legacy",
    )


def test_create_org_with_every_option():
    run(
        "create_org",
        "fab",
        "--name",
        "Fabrikam",
        "--currency",
        "eur",
        "--country",
        "de",
        "--commerce",
        "new",
    )
    organisation = Organisation.objects.get(slug="fab")
    assert (str(organisation.currency), organisation.country.code, organisation.commerce) == (
        "EUR",
        "DE",
        "new",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad Slug!", "--name", "X"], "slug"),
        (["ok", "--name", "X", "--currency", "XYZ"], "currency"),
        (["ok", "--name", "X", "--country", "ZZ"], "country"),
        (["ok", "--name", ""], "name"),
    ],
)
def test_create_org_refuses_bad_values_and_creates_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        run("create_org", *args)
    assert not Organisation.objects.exists()


def test_create_org_refuses_unknown_commerce():
    with pytest.raises(CommandError, match="commerce"):
        run("create_org", "ok", "--name", "X", "--commerce", "barter")
    assert not Organisation.objects.exists()


def test_create_org_refuses_a_duplicate_slug(org):
    with pytest.raises(CommandError, match="already exists"):
        run("create_org", org.slug, "--name", "Another")
    assert Organisation.objects.get(slug=org.slug).name == "Contoso Ltd"


def test_create_admin_makes_a_login_with_the_role(org):
    out = run(
        "create_admin",
        "contoso",
        "Ana@Contoso.example",
        "--role",
        "billing",
        "--password",
        "Long-Enough-Pass-42",
    )
    user = User.objects.get(email="ana@contoso.example")
    assert user.check_password("Long-Enough-Pass-42")
    assert Membership.objects.get(user=user, organisation=org).role == "billing"
    assert "Billing admin" in out


def test_create_admin_adds_a_second_organisation_to_an_existing_login(org, other_org):
    run(
        "create_admin",
        "contoso",
        "ana@contoso.example",
        "--role",
        "global",
        "--password",
        "Long-Enough-Pass-42",
    )
    run("create_admin", "fabrikam", "ana@contoso.example", "--role", "reports")
    user = User.objects.get(email="ana@contoso.example")
    assert user.check_password("Long-Enough-Pass-42"), "the password stays when none is given"
    assert sorted(user.memberships.values_list("role", flat=True)) == ["global", "reports"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere", "a@b.example", "--role", "global"], "No organisation"),
        (["contoso", "not-an-email", "--role", "global"], "email"),
        (["contoso", "a@b.example", "--role", "global", "--password", "short"], "password"),
        (
            ["contoso", "a@b.example", "--role", "global", "--password", "12345678901234"],
            "password",
        ),
    ],
)
def test_create_admin_refuses_bad_input_and_creates_nothing(org, args, message):
    with pytest.raises(CommandError, match=message):
        run("create_admin", *args)
    assert not User.objects.exists()


def test_create_admin_refuses_an_unknown_role(org):
    with pytest.raises(CommandError, match="role"):
        run("create_admin", "contoso", "a@b.example", "--role", "owner")
    assert not User.objects.exists()


def test_create_api_key_prints_the_key_alone(org):
    out = run("create_api_key", "contoso", "--scope", "platform")
    plain = out.strip()
    assert out == plain + "\n" and plain.startswith("cpk_")
    key = api_key_authenticate(plain)
    assert key is not None and key.scope == "platform" and key.organisation == org
    assert plain not in ApiKey.objects.values_list("secret_hash", flat=True)


def test_create_api_key_refuses_unknown_org_and_scope(org):
    with pytest.raises(CommandError, match="No organisation"):
        run("create_api_key", "nowhere", "--scope", "admin")
    with pytest.raises(CommandError, match="scope"):
        run("create_api_key", "contoso", "--scope", "root")
    assert not ApiKey.objects.exists()
