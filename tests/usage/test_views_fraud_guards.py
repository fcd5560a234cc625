"""Issue 19, item 3: Settings › Fraud guards: global and billing admins see and change the guards
(in minutes on the page), others get 403 and no link; hostile values are errors next to their
field and save nothing; the page shows and changes only the signed-in organisation's guards."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import quote

import pytest
from django.urls import reverse

from credits_portal.models import AuditEvent
from credits_portal.permissions import Role
from credits_portal.validation import MAX_FORM_VALUE, text_problem
from usage.models import FraudGuard
from usage.services.fraud_guards import DEFAULT_BLOCKED, fraud_guards_save, guard_for

pytestmark = pytest.mark.django_db
URL = reverse("usage:fraud_guards")
FORM = {
    "max_rate_per_minute": "0.2500",
    "blocked_prefixes": "+882, +883\ncu  JM;+4470",
    "max_minutes_outbound": "60",
    "max_minutes_conference_dial_out": "",
    "max_minutes_toll_free_dial_in": "1.5",
}


def stored(organisation) -> tuple:
    guard = FraudGuard.objects.get(organisation=organisation)
    return (
        guard.max_rate_per_minute,
        guard.blocked_prefixes,
        guard.max_seconds_outbound,
        guard.max_seconds_conference_dial_out,
        guard.max_seconds_toll_free_dial_in,
    )


@pytest.mark.parametrize("role", [Role.GLOBAL, Role.BILLING])
def test_an_admin_sees_the_defaults_and_saves_new_guards(client_as, org, role):
    client = client_as(role)
    page = client.get(URL)
    assert page.status_code == 200
    form = page.context["form"]
    assert form["max_rate_per_minute"].value() == "1.0000"
    assert form["blocked_prefixes"].value() == " ".join(DEFAULT_BLOCKED)
    assert "Maximum rate per minute (USD)" in page.content.decode()
    assert f'href="{URL}" aria-current="page"' in page.content.decode()  # Settings › Fraud guards
    response = client.post(URL, FORM)
    assert response.status_code == 302 and response["Location"] == URL
    assert stored(org) == (
        Decimal("0.2500"),
        ["+882", "+883", "CU", "JM", "+4470"],
        3600,
        None,
        90,
    )
    assert guard_for(org).refusal("+4470123456", Decimal("0.01")) == "destination_blocked"
    assert AuditEvent.objects.get(action="fraud_guards.changed").after["max_call_seconds"] == {
        "outbound": 3600,
        "conference_dial_out": None,
        "toll_free_dial_in": 90,
    }
    again = client.get(URL).context["form"]  # as saved, in minutes
    assert again["max_minutes_outbound"].value() == 60
    assert again["max_minutes_toll_free_dial_in"].value() == Decimal("1.50")
    assert again["blocked_prefixes"].value() == "+882 +883 CU JM +4470"


def test_empty_fields_mean_no_guard_of_that_kind(client_as, org):
    empty = dict.fromkeys(FORM, "")
    assert client_as(Role.BILLING).post(URL, empty).status_code == 302
    assert stored(org) == (None, [], None, None, None)


@pytest.mark.parametrize("role", [Role.LICENSE, Role.REPORTS])
def test_other_roles_get_403_and_no_link(client_as, org, role):
    client = client_as(role)
    assert client.get(URL).status_code == 403
    assert client.post(URL, FORM).status_code == 403
    assert URL not in client.get(reverse("home")).content.decode()
    assert stored(org)[1] == list(DEFAULT_BLOCKED)


def test_admins_have_the_link_under_settings(client_as, org):
    for role in (Role.GLOBAL, Role.BILLING):
        assert f'href="{URL}"' in client_as(role).get(reverse("home")).content.decode()


HOSTILE = [
    ("max_rate_per_minute", "\x00"),
    ("max_rate_per_minute", "\ud800"),
    ("max_rate_per_minute", "9" * 10_000),
    ("max_rate_per_minute", "-1"),
    ("max_rate_per_minute", "1e309"),
    ("max_rate_per_minute", str(2**63)),
    ("max_rate_per_minute", "0.00001"),
    ("max_rate_per_minute", "NaN"),
    ("blocked_prefixes", "\x00"),
    ("blocked_prefixes", "+88\ud800"),
    ("blocked_prefixes", "x" * 10_000),
    ("blocked_prefixes", " ".join(["+1"] * 501)),
    ("blocked_prefixes", "+0"),
    ("blocked_prefixes", "882"),
    ("blocked_prefixes", "ZZ"),
    ("blocked_prefixes", "+1234567890123456"),
    ("max_minutes_outbound", "-1"),
    ("max_minutes_outbound", "0"),
    ("max_minutes_outbound", "0.5"),
    ("max_minutes_outbound", "1441"),
    ("max_minutes_outbound", str(2**63)),
    ("max_minutes_outbound", "1e309"),
    ("max_minutes_outbound", "NaN"),
    ("max_minutes_outbound", "1.234"),
    ("max_minutes_outbound", "\x00"),
    ("max_minutes_toll_free_dial_in", "x" * 10_000),
]


@pytest.mark.parametrize(
    ("field", "value"), HOSTILE, ids=[f"{f}-{i}" for i, (f, _v) in enumerate(HOSTILE)]
)
def test_hostile_values_are_errors_next_to_their_field(client_as, org, field, value):
    before = stored(org)
    # Encoded as a browser sends it; a lone surrogate as its (invalid) UTF-8 bytes.
    body = "&".join(
        f"{name}={quote(text.encode('utf-8', 'surrogatepass'), safe='')}"
        for name, text in {**FORM, field: value}.items()
    )
    response = client_as(Role.BILLING).post(
        URL, body, content_type="application/x-www-form-urlencoded"
    )
    if response.status_code == 400:  # what no view may see: the edge names the field
        assert text_problem(value, max_length=MAX_FORM_VALUE) is not None
        assert field in response.content.decode()
    else:
        assert response.status_code == 200
        assert field in response.context["form"].errors, response.context["form"].errors
        assert 'class="error"' in response.content.decode()
    assert stored(org) == before


def test_the_page_shows_and_changes_only_its_organisation(client_as, org, other_org):
    fraud_guards_save(
        organisation=other_org,
        max_rate_per_minute="0.0100",
        blocked_prefixes=["DE"],
        max_call_seconds={"outbound": 120},
    )
    page = client_as(Role.GLOBAL).get(URL)
    assert page.context["form"]["max_rate_per_minute"].value() == "1.0000"
    assert "DE" not in page.context["form"]["blocked_prefixes"].value()
    client_as(Role.GLOBAL).post(URL, FORM)
    assert stored(other_org) == (Decimal("0.0100"), ["DE"], 120, None, None)
