"""Settings › Alerts: billing and global admins set the thresholds; hostile input is a 400
naming the field; another organisation's alerts are never shown."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from billing.models import BalanceAlert, BalanceAlertSent
from billing.services.balance_alerts import alert_settings, alert_settings_save
from billing.services.contacts import billing_contact_add
from credits_portal.models import AuditEvent
from credits_portal.permissions import Role
from tests.builders import account_of, grant, make_member

pytestmark = pytest.mark.django_db
URL = reverse("billing:alerts")


def test_a_billing_admin_sets_the_thresholds(client_as, org, django_capture_on_commit_callbacks):
    billing_contact_add(organisation=org, email="ap@contoso.example")
    grant(org, "30.00")
    client = client_as(Role.BILLING)
    page = client.get(URL)
    assert page.status_code == 200
    assert b"fewer than 7 days of credits are left" in page.content  # the default
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(URL, {"low_balance": "100\n\n 1,000.00 \n20", "runway_days": "14"})
    assert response.status_code == 302 and response["Location"] == URL
    settings = alert_settings(account_of(org))
    assert settings.low_balance == [Decimal("1000"), Decimal("100"), Decimal("20")]
    assert settings.runway_days == 14
    # 30.00 is below 1,000 and 100 already: those two fire now, 20 watches.
    assert sorted(m.subject for m in mail.outbox) == [
        "Communications Credits balance below 1,000.00 USD",
        "Communications Credits balance below 100.00 USD",
    ]
    page = client.get(URL)
    assert page.content.count(b"<strong>Sent</strong>") == 2
    assert b"Watching" in page.content
    assert b"Balance below 1,000.00 USD" in page.content  # the history
    assert b"ap@contoso.example" in page.content
    assert b"1,000.00\n100.00\n20.00" in page.content  # the form shows what is set
    event = AuditEvent.objects.get(organisation=org, action="alerts.changed")
    assert event.after == {"low_balance": ["1000.00", "100.00", "20.00"], "runway_days": 14}


def test_clearing_every_field_leaves_no_alerts(client_as, org):
    response = client_as(Role.GLOBAL).post(URL, {"low_balance": "", "runway_days": ""})
    assert response.status_code == 302
    assert not BalanceAlert.objects.filter(account=account_of(org)).exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"low_balance": "20\x00"}, "low_balance", "control characters"),
        ({"low_balance": "9" * 10_000}, "low_balance", "at most 5,000 characters"),
        ({"low_balance": "-5"}, "low_balance", "Threshold 1: The amount must be more than zero."),
        ({"low_balance": "20.005"}, "low_balance", "USD amounts have at most 2 decimals."),
        ({"low_balance": "20\n20.00"}, "low_balance", "20.00 USD is listed twice."),
        ({"low_balance": "\n".join(["1", "2", "3", "4", "5", "6"])}, "low_balance", "At most 5"),
        ({"low_balance": "1\n" * 300}, "low_balance", "at most 500 characters"),
        ({"runway_days": "0"}, "runway_days", "greater than or equal to 1"),
        ({"runway_days": "91"}, "runway_days", "less than or equal to 90"),
        ({"runway_days": "1e309"}, "runway_days", "Enter a whole number."),
        ({"runway_days": "-1"}, "runway_days", "greater than or equal to 1"),
    ],
)
def test_hostile_input_is_a_400_naming_the_field(client_as, org, data, field, message):
    response = client_as(Role.BILLING).post(URL, {"low_balance": "", "runway_days": "", **data})
    assert response.status_code == 400
    text = response.content.decode()
    assert field in text and message.replace("'", "&#x27;") in text, text[-3000:]
    assert alert_settings(account_of(org)).runway_days == 7  # nothing changed


@pytest.mark.parametrize("role", [Role.LICENSE, Role.REPORTS])
def test_other_roles_neither_open_it_nor_see_it(client_as, role):
    client = client_as(role)
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"low_balance": "1"}).status_code == 403
    assert URL.encode() not in client.get(reverse("home")).content


@pytest.mark.parametrize("role", [Role.GLOBAL, Role.BILLING])
def test_billing_and_global_admins_find_it_under_settings(client_as, role):
    assert URL.encode() in client_as(role).get(reverse("home")).content


def test_another_organisations_alerts_are_never_shown(client_as, org, other_org):
    grant(other_org, "10.00")
    alert_settings_save(account=account_of(other_org), low_balance=["77.77"], runway_days=None)
    assert BalanceAlertSent.objects.filter(account__organisation=other_org).exists()
    page = client_as(Role.GLOBAL).get(URL)
    assert b"77.77" not in page.content and b"EUR" not in page.content
    # Saving ours leaves theirs alone.
    client_as(Role.GLOBAL).post(URL, {"low_balance": "5", "runway_days": ""})
    assert alert_settings(account_of(other_org)).low_balance == [Decimal("77.77")]


def test_a_member_of_two_organisations_sees_the_one_signed_into(client, org, other_org):
    person = make_member(org, Role.GLOBAL, email="both@example.com")
    make_member(other_org, Role.BILLING, email="both@example.com")
    alert_settings_save(account=account_of(other_org), low_balance=["77.77"], runway_days=None)
    client.force_login(person)
    assert b"77.77" not in client.get(URL).content


def test_new_commerce_is_told_there_is_no_balance(client, db):
    from tests.builders import make_org

    newco = make_org("newco", commerce="new")
    client.force_login(make_member(newco, Role.GLOBAL))
    page = client.get(URL)
    assert page.status_code == 200 and b"holds no Communications Credits" in page.content
    response = client.post(URL, {"low_balance": "20", "runway_days": ""})
    assert response.status_code == 400
    assert not BalanceAlert.objects.filter(account=account_of(newco)).exists()
