"""Billing › Your products and Plans and pricing in a real browser: buying seats on the saved card
(the price shown before anything is charged), releasing seats, and the pricing lookup."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import Invoice
from credits_portal.permissions import Role
from licensing.models import Subscription
from tests.billing.recharge_helpers import save_card
from tests.browser.conftest import sign_in
from tests.builders import PASSWORD, demo_rate_card, make_member, seats

pytestmark = pytest.mark.django_db(transaction=True)


def test_buy_seats_on_the_saved_card_then_release_some(page, look, org):
    save_card(org)
    seats(org, PHONE_SYSTEM=2, COMMS_CREDITS=2)
    sign_in(page, make_member(org, Role.BILLING).email, PASSWORD)

    page.click("nav >> text=Your products")
    assert page.inner_text("h1") == "Your products"
    row = page.locator("#product-PHONE_SYSTEM")
    assert "8.00 USD" in row.inner_text()
    assert page.locator("#product-COMMS_CREDITS a", has_text="Communications Credits").count() == 1
    look("products")

    row.locator("text=Buy seats").click()
    page.fill("#id_count", "3")
    look("products-buy")
    page.click("main button[type=submit]")
    # The confirmation states the prorated price; nothing is charged before it is accepted.
    heading = page.inner_text("h1")
    assert heading.startswith("Buy 3 Phone System seats for ")
    assert "Visa •••• 4242" in page.inner_text("main dl")
    assert not Invoice.objects.exists()
    look("products-buy-confirm")
    page.click("main button[type=submit]")

    invoice = Invoice.objects.get()
    assert invoice.kind == "seats" and invoice.status == "paid" and invoice.total > Decimal(0)
    assert f"invoice {invoice.display_number}" in page.inner_text(".messages")
    assert Subscription.objects.get(product__sku="PHONE_SYSTEM").seats == 5

    page.fill("#release-PHONE_SYSTEM", "2")
    page.locator("#product-PHONE_SYSTEM button", has_text="Release").click()
    assert "next renewal" in page.inner_text("main")
    look("products-release-confirm")
    page.click("main button[type=submit]")
    assert "2 Phone System seats released" in page.inner_text(".messages")
    assert "2 released from the renewal" in page.inner_text("#product-PHONE_SYSTEM")
    look("products-after-release")


def test_the_pricing_lookup_answers_the_matching_line(page, look, org):
    demo_rate_card()
    sign_in(page, make_member(org, Role.LICENSE).email, PASSWORD)
    page.click("nav >> text=Plans and pricing")
    assert page.inner_text("h1") == "Plans and pricing"
    page.fill("#id_q", "+44 20 7183 8750")
    page.select_option("#id_type", "outbound")
    page.click("main form[role=search] button[type=submit]")
    result = page.inner_text("#lookup-result")
    assert "+4420 (United Kingdom" in result and "0.0210 USD per minute" in result
    assert "0.0230" not in result
    look("pricing-lookup")

    page.fill("#id_q", "Germany")
    page.select_option("#id_type", "")
    page.click("main form[role=search] button[type=submit]")
    result = page.inner_text("#lookup-result")
    assert "+49 (Germany)" in result and "0.0250 USD per minute" in result
    # The availability table answers for Germany: the plans whose minutes apply there.
    assert "Germany (DE)" in page.inner_text("table[aria-labelledby=avail-h]")
    look("pricing-country")
