from __future__ import annotations

import pytest
from django.urls import reverse

from billing.models import BillingContact
from credits_portal.permissions import Role

pytestmark = pytest.mark.django_db


def test_add_and_remove_a_billing_contact(client_as, org):
    client = client_as(Role.BILLING)
    response = client.post(
        reverse("billing:contact_add"), {"email": "ap@contoso.example", "name": "AP"}
    )
    assert response.status_code == 302
    contact = BillingContact.objects.get(organisation=org)
    assert b"ap@contoso.example" in client.get(reverse("billing:contact_list")).content
    remove = reverse("billing:contact_remove", args=[contact.code])
    assert client.post(remove).status_code == 302
    assert not BillingContact.objects.exists()


@pytest.mark.parametrize("email", ["not-an-email", ""])
def test_a_bad_address_is_refused(client_as, org, email):
    response = client_as(Role.BILLING).post(reverse("billing:contact_add"), {"email": email})
    assert response.status_code == 200
    assert "email" in response.context["form"].errors
    assert not BillingContact.objects.exists()


def test_the_same_address_twice_is_refused_whatever_its_case(client_as, org):
    client = client_as(Role.BILLING)
    client.post(reverse("billing:contact_add"), {"email": "ap@contoso.example"})
    response = client.post(reverse("billing:contact_add"), {"email": "AP@Contoso.example"})
    assert response.status_code == 200
    assert "already a billing contact" in str(response.context["form"].errors["email"])
    assert BillingContact.objects.count() == 1
