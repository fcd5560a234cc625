"""The audit log records admin actions on money, licenses, keys and settings."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from credits_portal.audit import audit_record
from credits_portal.models import AuditEvent
from credits_portal.permissions import Role
from tests.billing.recharge_helpers import save_card
from tests.builders import grant, make_api_key, make_user, seats

pytestmark = pytest.mark.django_db


def actions(org) -> list[str]:
    return list(
        AuditEvent.objects.filter(organisation=org).order_by("id").values_list("action", flat=True)
    )


def test_keys_contacts_and_auto_recharge_are_audited_with_before_and_after(client_as, members, org):
    admin = client_as(Role.GLOBAL)
    admin.post(reverse("api_key_create"), {"name": "SBC", "scope": "platform"})
    key = org.api_keys.get()
    admin.post(reverse("api_key_revoke", args=[key.prefix]))
    admin.post(reverse("billing:contact_add"), {"email": "ap@contoso.example"})
    save_card(org)
    grant(org, "100")  # above the trigger: the save charges nothing, so no confirmation step
    admin.post(
        reverse("billing:auto_recharge"),
        {"enabled": "on", "trigger_amount": "20", "recharge_amount": "50"},
    )
    assert actions(org) == [
        "api_key.created",
        "api_key.revoked",
        "billing_contact.added",
        "auto_recharge.changed",
    ]
    change = AuditEvent.objects.get(action="auto_recharge.changed")
    assert change.actor == members[Role.GLOBAL].email and change.ip_address == "127.0.0.1"
    assert change.before == {"enabled": False, "trigger_amount": None, "recharge_amount": None}
    assert change.after == {
        "enabled": True,
        "trigger_amount": "20.00",
        "recharge_amount": "50.00",
    }


def test_license_changes_are_audited_from_the_page_and_the_api(client, client_as, org):
    seats(org, PHONE_SYSTEM=2, CALLING_DOMESTIC=2)
    user = make_user(org, "ana@contoso.example")
    client_as(Role.LICENSE).post(
        reverse("licensing:user", args=[user.code]), {"licenses": ["PHONE_SYSTEM"]}
    )
    client.post(
        "/api/v1/users/ana@contoso.example/licenses",
        {"assign": ["CALLING_DOMESTIC"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {make_api_key(org)}",
    )
    page_change, api_change = AuditEvent.objects.filter(action="licenses.changed").order_by("id")
    assert (page_change.before, page_change.after) == (
        {"licenses": []},
        {"licenses": ["PHONE_SYSTEM"]},
    )
    assert api_change.actor.startswith("API key admin key") and api_change.after == {
        "licenses": ["CALLING_DOMESTIC", "PHONE_SYSTEM"]
    }


def test_only_this_organisations_events_are_shown(client_as, org, other_org):
    audit_record(
        organisation=other_org,
        actor="them@fabrikam.example",
        action="api_key.created",
        target="theirs",
    )
    audit_record(
        organisation=org, actor="us@contoso.example", action="api_key.created", target="ours"
    )
    page = client_as(Role.GLOBAL).get(reverse("audit_log")).content.decode()
    assert "ours" in page and "theirs" not in page
    filtered = client_as(Role.GLOBAL).get(reverse("audit_log"), {"action": "card."})
    assert len(filtered.context["events"]) == 0


def test_operator_commands_are_audited_and_a_refused_one_leaves_nothing(org, tmp_path):
    seats(org, PHONE_SYSTEM=1)
    make_user(org, "ana@contoso.example")
    users = tmp_path / "users.csv"
    users.write_text("upn,display_name,usage_location\nbob@contoso.example,Bob,GB\n")
    call_command("grant_funds", org.slug, "25.00", "--reference", "promo-1", stdout=StringIO())
    call_command("add_seats", org.slug, "COMMS_CREDITS", "3", stdout=StringIO())
    call_command("import_users", org.slug, str(users), stdout=StringIO())
    call_command(
        "assign_licenses", org.slug, "--users", "ana@contoso.example", "--assign", "PHONE_SYSTEM",
        stdout=StringIO(),
    )  # fmt: skip
    call_command("create_api_key", org.slug, "--scope", "platform", stdout=StringIO())
    call_command("create_admin", org.slug, "eve@contoso.example", "--role", "billing")
    assert actions(org) == [
        "funds.granted",
        "seats.added",
        "users.imported",
        "licenses.changed",
        "api_key.created",
        "admin.granted",
    ]
    granted, added = AuditEvent.objects.filter(organisation=org).order_by("id")[:2]
    assert granted.actor.startswith("operator ") and "(manage.py grant_funds)" in granted.actor
    assert (granted.after["amount"], granted.after["reference"]) == ("25.00", "promo-1")
    assert (added.target, added.before, added.after) == (
        "Communications Credits (COMMS_CREDITS)",
        {"seats": 0},
        {"seats": 3},
    )

    with pytest.raises(CommandError):
        call_command("add_seats", org.slug, "NO_SUCH_SKU", "3")
    with pytest.raises(CommandError):
        call_command("grant_funds", org.slug, "-5")
    assert len(actions(org)) == 6
