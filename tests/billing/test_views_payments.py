"""Paying by card in the portal, and Stripe's webhook, against localstripe."""

from __future__ import annotations

import urllib.request
from decimal import Decimal
from unittest import mock

import pytest
from django.conf import settings
from django.urls import reverse

from billing.models import FundLot, Invoice, Payment, StripeEvent
from billing.services import cards
from credits_portal.permissions import Role
from tests.builders import account_of
from tests.processes import wait_until
from tests.stripe_helpers import (
    DECLINED_ON_CHARGE,
    NEEDS_AUTHENTICATION,
    VISA,
    authenticate_payment,
    confirm_setup,
    intent_as_dict,
    intents_for,
    signed_event,
)

WEBHOOK = "/billing/stripe/webhook/"


@pytest.fixture
def billing_client(client_as):
    return client_as(Role.BILLING)


def start_payment(client, amount: str = "75.00") -> Payment:
    page = client.get(reverse("billing:add_funds"))
    token = page.context["form"]["form_token"].value()
    response = client.post(
        reverse("billing:add_funds"), {"amount": amount, "method": "card", "form_token": token}
    )
    assert response.status_code == 302
    return Payment.objects.get(form_token=token)


def pay_with_new_card(client, payment: Payment, number: str):
    """The payment page, Stripe.js saving the card, then the form posting the SetupIntent."""
    page = client.get(reverse("billing:payment", args=[payment.code]))
    secret = page.context["setup_secret"]
    assert secret and f'data-client-secret="{secret}"'.encode() in page.content
    assert settings.STRIPE_JS_URL.encode() in page.content
    setup_id = secret.split("_secret_")[0]
    confirm_setup(setup_id, number)
    return client.post(
        reverse("billing:payment_charge", args=[payment.code]), {"setup_intent": setup_id}
    )


@pytest.mark.django_db
def test_paying_with_a_new_card_adds_the_funds_and_an_invoice(billing_client, org):
    payment = start_payment(billing_client)
    response = pay_with_new_card(billing_client, payment, VISA)
    assert response.status_code == 302
    page = billing_client.get(response["Location"])
    assert b"Paid." in page.content and b"75.00 USD" in page.content
    assert account_of(org).balance == Decimal("75.00")
    invoice = Invoice.objects.get()
    pdf = billing_client.get(reverse("billing:invoice_pdf", args=[invoice.code]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert b"CONTOSO-000001" in billing_client.get(reverse("billing:invoices")).content
    # A second click on Pay, or the form posted again: nothing more.
    billing_client.post(reverse("billing:payment_charge", args=[payment.code]))
    assert len(intents_for(payment.code)) == 1 and FundLot.objects.count() == 1


@pytest.mark.django_db
def test_the_saved_card_pays_the_next_purchase(billing_client, org):
    pay_with_new_card(billing_client, start_payment(billing_client), VISA)
    second = start_payment(billing_client, "20")
    page = billing_client.get(reverse("billing:payment", args=[second.code]))
    assert b"Visa \xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2 4242" in page.content
    billing_client.post(reverse("billing:payment_charge", args=[second.code]))
    assert account_of(org).balance == Decimal("95.00")


@pytest.mark.django_db
def test_a_declined_card_shows_why_and_changes_nothing(billing_client, org):
    payment = start_payment(billing_client)
    response = pay_with_new_card(billing_client, payment, DECLINED_ON_CHARGE)
    page = billing_client.get(response["Location"])
    assert b"The payment failed" in page.content and b"declined" in page.content
    assert account_of(org).balance == 0 and not FundLot.objects.exists()


@pytest.mark.django_db
def test_authentication_then_the_browser_returns(billing_client, org):
    payment = start_payment(billing_client)
    pay_with_new_card(billing_client, payment, NEEDS_AUTHENTICATION)
    page = billing_client.get(reverse("billing:payment", args=[payment.code]))
    assert b"Confirm with your bank" in page.content
    payment.refresh_from_db()
    authenticate_payment(payment.stripe_payment_intent_id, page.context["payment_secret"])
    billing_client.get(reverse("billing:payment_return", args=[payment.code]))
    assert account_of(org).balance == Decimal("75.00")


@pytest.mark.django_db
def test_the_webhook_before_the_browser_then_the_same_webhook_again(client, billing_client, org):
    payment = start_payment(billing_client)
    pay_with_new_card(billing_client, payment, NEEDS_AUTHENTICATION)
    payment.refresh_from_db()
    authenticate_payment(
        payment.stripe_payment_intent_id, cards.payment_intent_client_secret(payment)
    )
    body, signature = signed_event(
        "payment_intent.succeeded",
        intent_as_dict(payment.stripe_payment_intent_id),
        event_id="evt_1",
    )
    first = client.post(
        WEBHOOK, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    assert first.status_code == 200 and account_of(org).balance == Decimal("75.00")
    again = client.post(
        WEBHOOK, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    assert again.status_code == 200 and StripeEvent.objects.count() == 1
    billing_client.get(reverse("billing:payment_return", args=[payment.code]))  # the browser, late
    assert FundLot.objects.count() == 1 and account_of(org).balance == Decimal("75.00")


@pytest.mark.django_db
def test_a_forged_webhook_is_refused_and_changes_nothing(client, billing_client, org):
    payment = start_payment(billing_client)
    pay_with_new_card(billing_client, payment, NEEDS_AUTHENTICATION)
    payment.refresh_from_db()
    authenticate_payment(
        payment.stripe_payment_intent_id, cards.payment_intent_client_secret(payment)
    )
    body, signature = signed_event(
        "payment_intent.succeeded", intent_as_dict(payment.stripe_payment_intent_id)
    )
    forged = signature[:-4] + ("0000" if not signature.endswith("0000") else "1111")
    for header in (forged, "", "t=1,v1=abc"):
        response = client.post(
            WEBHOOK, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
        )
        assert response.status_code == 400
    assert account_of(org).balance == 0 and not StripeEvent.objects.exists()


@pytest.mark.django_db
def test_a_crash_after_the_charge_is_repaired_by_the_webhook(client, billing_client, org):
    payment = start_payment(billing_client)
    with (
        mock.patch.object(cards, "_apply", side_effect=SystemExit("worker died")),
        pytest.raises(SystemExit),
    ):
        pay_with_new_card(billing_client, payment, VISA)
    payment.refresh_from_db()
    assert payment.status == "charging" and account_of(org).balance == 0
    (intent,) = intents_for(payment.code)
    body, signature = signed_event("payment_intent.succeeded", intent.to_dict())
    client.post(WEBHOOK, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)
    payment.refresh_from_db()
    assert payment.status == "succeeded" and account_of(org).balance == Decimal("75.00")
    assert len(intents_for(payment.code)) == 1


@pytest.mark.django_db(transaction=True)
def test_localstripe_delivers_the_webhook_after_the_browser(live_server, client_as, org):
    """The real delivery: localstripe signs and posts the event to the running portal."""
    form = f"url={live_server.url}{WEBHOOK}&secret={settings.STRIPE_WEBHOOK_SECRET}".encode()
    urllib.request.urlopen(f"{settings.STRIPE_API_BASE}/_config/webhooks/tests", data=form).close()
    billing_client = client_as(Role.BILLING)
    payment = start_payment(billing_client)
    pay_with_new_card(billing_client, payment, VISA)
    assert account_of(org).balance == Decimal("75.00")
    assert wait_until(
        lambda: StripeEvent.objects.filter(type="payment_intent.succeeded").exists(), timeout=15
    )
    assert FundLot.objects.count() == 1 and account_of(org).balance == Decimal("75.00")
