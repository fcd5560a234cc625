"""Billing › Your products (buy and release seats) and Plans and pricing, in the portal."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from billing.models import Invoice
from credits_portal.models import AuditEvent
from credits_portal.permissions import Role
from licensing.models import Subscription
from tests.billing.recharge_helpers import save_card
from tests.builders import demo_rate_card, seats
from tests.usage.seat_helpers import at, register

pytestmark = pytest.mark.django_db


def buy(client, token, sku="PHONE_SYSTEM", count="3", pay_with="default"):
    return client.post(
        reverse("usage:products_buy_confirm"),
        {"sku": sku, "count": count, "pay_with": pay_with, "form_token": token},
    )


def test_the_page_lists_each_license_held_with_its_price_seats_and_renewal(client_as, org):
    seats(org, PHONE_SYSTEM=4, COMMS_CREDITS=2)
    with time_machine.travel(at("2026-11-21T10:00"), tick=False):
        page = client_as(Role.BILLING).get(reverse("usage:products")).content.decode()
    assert "Phone System" in page and "8.00 USD" in page
    assert "1 December 2026" in page
    # The Communications Credits line links to the credits page.
    assert f'<a href="{reverse("billing:credits")}">Communications Credits</a>' in page


def test_buying_shows_the_price_first_then_charges_once_per_form(client_as, org):
    save_card(org)
    client = client_as(Role.BILLING)
    token = str(uuid.uuid4())
    with time_machine.travel(at("2026-11-21T10:00"), tick=False):
        quote = client.post(
            reverse("usage:products_buy"),
            {"sku": "PHONE_SYSTEM", "count": "3", "pay_with": "default", "form_token": token},
        )
        assert quote.status_code == 200
        assert "8.01 USD" in quote.content.decode()
        assert not Invoice.objects.exists()
        first = buy(client, token)
        again = buy(client, token)
    assert first.status_code == again.status_code == 302
    assert Invoice.objects.get().total == Decimal("8.01")
    assert Subscription.objects.get(organisation=org).seats == 3
    # The audit log names the license and what the organisation holds after it, once.
    (entry,) = AuditEvent.objects.filter(organisation=org, action="seats.bought")
    assert entry.target == "Phone System (PHONE_SYSTEM)"
    invoice = Invoice.objects.get().display_number
    assert entry.after == {"add": 3, "invoice": invoice, "seats": 3, "assigned": 0, "releasing": 0}


def test_buying_on_a_registered_agreement(client_as, org):
    register(org)
    response = buy(client_as(Role.GLOBAL), str(uuid.uuid4()), pay_with="EA-4500123")
    assert response.status_code == 302
    assert Invoice.objects.get().status == "due"


def test_buying_without_a_payment_method_is_refused(client_as, org):
    response = buy(client_as(Role.GLOBAL), str(uuid.uuid4()))
    assert response.status_code == 409
    assert "Save a card" in response.content.decode()
    assert not Subscription.objects.filter(organisation=org, seats__gt=0).exists()


@pytest.mark.parametrize("count", ["\x00", "x" * 10_000, "-1", "0", str(2**63), "2.5", "1e3"])
def test_a_hostile_count_is_400_naming_the_field(client_as, org, count):
    save_card(org)
    response = buy(client_as(Role.GLOBAL), str(uuid.uuid4()), count=count)
    assert response.status_code == 400
    page = response.content.decode()
    # NUL is refused at the edge (credits_portal.validation), naming the field; the rest by the form.
    assert 'id="id_count-error"' in page or "<strong>count</strong> must " in page
    assert not Invoice.objects.exists()


def test_another_organisations_agreement_cannot_be_chosen(client_as, org, other_org):
    register(other_org, number="EA-9000001")
    save_card(org)
    response = buy(client_as(Role.GLOBAL), str(uuid.uuid4()), pay_with="EA-9000001")
    assert response.status_code == 400
    assert 'id="id_pay_with-error"' in response.content.decode()
    assert not Invoice.objects.exists()


def test_releasing_confirms_then_releases_unassigned_seats(client_as, org):
    seats(org, PHONE_SYSTEM=3)
    client = client_as(Role.BILLING)
    body = {"sku": "PHONE_SYSTEM", "count": "2", "form_token": str(uuid.uuid4())}
    confirm = client.post(reverse("usage:products_release"), body)
    assert confirm.status_code == 200 and "next renewal" in confirm.content.decode()
    assert Subscription.objects.get().releasing == 0
    assert client.post(reverse("usage:products_release_confirm"), body).status_code == 302
    assert client.post(reverse("usage:products_release_confirm"), body).status_code == 302
    assert Subscription.objects.get().releasing == 2
    (entry,) = AuditEvent.objects.filter(organisation=org, action="seats.released")
    assert entry.target == "Phone System (PHONE_SYSTEM)"
    assert entry.after == {"release": 2, "seats": 3, "assigned": 0, "releasing": 2}
    too_many = {**body, "form_token": str(uuid.uuid4())}
    assert client.post(reverse("usage:products_release_confirm"), too_many).status_code == 409


def test_releasing_another_organisations_license_is_404(client_as, org, other_org):
    seats(other_org, PHONE_SYSTEM=3)
    body = {"sku": "PHONE_SYSTEM", "count": "1", "form_token": str(uuid.uuid4())}
    client = client_as(Role.GLOBAL)
    assert client.post(reverse("usage:products_release_confirm"), body).status_code == 404
    assert Subscription.objects.get(organisation=other_org).releasing == 0


def test_a_reports_reader_may_read_prices_but_not_buy(client_as, org):
    client = client_as(Role.REPORTS)
    assert client.get(reverse("usage:pricing")).status_code == 200
    assert client.get(reverse("usage:products")).status_code == 403
    assert buy(client, str(uuid.uuid4())).status_code == 403


def test_the_pricing_lookup_answers_the_longest_prefix_line(client_as, org):
    demo_rate_card()
    page = client_as(Role.LICENSE).get(
        reverse("usage:pricing"), {"q": "+44 20", "type": "outbound"}
    )
    assert page.status_code == 200
    result = page.content.decode().split('id="lookup-result"')[1].split("</section>")[0]
    assert "+4420" in result and "0.0210 USD per minute" in result
    assert "0.0230" not in result


@pytest.mark.parametrize("q", ["\x00", "x" * 10_000])
def test_a_hostile_search_is_400_naming_the_field(client_as, org, q):
    response = client_as(Role.GLOBAL).get(reverse("usage:pricing"), {"q": q})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="id_q-error"' in page or "<strong>q</strong> must " in page


def test_an_unknown_type_is_400_naming_it(client_as, org):
    response = client_as(Role.GLOBAL).get(reverse("usage:pricing"), {"q": "+44", "type": "fax"})
    assert response.status_code == 400
    assert 'id="id_type-error"' in response.content.decode()


@pytest.mark.parametrize(
    "name, role",
    [
        ("billing:credits", Role.BILLING),
        ("usage:report", Role.REPORTS),
        ("licensing:licenses", Role.LICENSE),
    ],
)
def test_the_credits_report_and_license_pages_link_to_plans_and_pricing(client_as, org, name, role):
    page = client_as(role).get(reverse(name)).content.decode()
    assert page.count(f'href="{reverse("usage:pricing")}"') >= 2  # the nav and the page


def test_a_users_license_page_links_to_plans_and_pricing(client_as, org):
    from tests.builders import make_user

    user = make_user(org)
    page = client_as(Role.LICENSE).get(reverse("licensing:user", args=[user.code])).content.decode()
    assert page.count(f'href="{reverse("usage:pricing")}"') >= 2  # the nav and the section
