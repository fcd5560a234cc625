"""The demo tells the truth (issue 17, item 4): contoso healthy, fabrikam a complete new-commerce
organisation, everything through the services, safe to run twice (verify_ledger runs after)."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing.models import FundLot, Invoice, RechargeAttempt
from billing.selectors import account_summary
from billing.services import cards
from billing.services.verify import ledger_verify
from credits_portal.models import Organisation, User
from licensing.models import Assignment, DirectoryUser
from usage.models import FundedBy, OverageInvoice, Rate, UsageRecord
from usage.services.overage import closed_before

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded():
    for _ in range(2):
        call_command("seed_demo", "--usage-records", "300", stdout=io.StringIO())
    assert ledger_verify() == []
    return Organisation.objects.get(slug="contoso"), Organisation.objects.get(slug="fabrikam")


def test_memberships_and_contacts(seeded):
    contoso, fabrikam = seeded
    roles = dict(contoso.memberships.values_list("user__email", "role"))
    assert roles == {
        "global@contoso.example": "global",
        "billing@contoso.example": "billing",
        "license@contoso.example": "license",
        "reports@contoso.example": "reports",
    }
    assert User.objects.get(email="global@contoso.example").memberships.count() == 2
    assert contoso.billing_contacts.count() == 1
    assert fabrikam.billing_contacts.count() == 1


def test_contoso_starts_healthy(seeded):
    contoso, _ = seeded
    account = contoso.credit_account
    summary = account_summary(account)
    assert account.balance > account.recharge_trigger > 0
    assert account.debt == 0
    assert summary.available == account.balance
    # Lots are visible, one (and only one) expiring in two to three weeks.
    assert len(summary.lots) >= 3
    now = timezone.now()
    soon = [lot for lot in summary.lots if lot.expiring_soon]
    assert [lot.remaining for lot in soon] == [Decimal("200.00")]
    assert now + timedelta(days=14) <= soon[0].expires_at <= now + timedelta(days=21)
    # Usage drew the funds it used: the balance is what was bought less what was charged.
    bought = sum(FundLot.objects.filter(account=account).values_list("amount", flat=True))
    charged = sum(
        UsageRecord.objects.filter(organisation=contoso, funded_by=FundedBy.CREDITS).values_list(
            "charge", flat=True
        )
    )
    assert charged > 0
    assert account.balance == bought - charged


def test_contoso_auto_recharges_with_a_saved_card(seeded):
    contoso, _ = seeded
    account = contoso.credit_account
    assert account.auto_recharge_enabled
    assert account.recharge_method == "card"
    assert cards.card_current(account) is not None
    recharges = RechargeAttempt.objects.filter(account=account)
    assert [r.status for r in recharges] == [RechargeAttempt.Status.SUCCEEDED]
    recharge = recharges.get()
    assert recharge.created_at > timezone.now() - timedelta(hours=1)
    assert recharge.lot.invoice.status == Invoice.Status.PAID
    assert recharge.lot.invoice.total == recharge.amount


def test_fabrikam_is_a_complete_new_commerce_organisation(seeded):
    _, fabrikam = seeded
    assert fabrikam.commerce == Organisation.Commerce.NEW
    assert DirectoryUser.objects.filter(organisation=fabrikam).count() == 40
    assert Assignment.objects.filter(user__organisation=fabrikam).exists()
    assert fabrikam.subscriptions.filter(product__sku="COMMS_CREDITS").count() == 0
    assert Rate.objects.filter(currency="EUR").exists()
    records = UsageRecord.objects.filter(organisation=fabrikam)
    assert records.exists()
    assert not records.filter(funded_by=FundedBy.CREDITS).exists()
    assert records.filter(funded_by=FundedBy.OVERAGE, charge__gt=0).exists()
    # The closed months are invoiced, once, and only they.
    invoices = OverageInvoice.objects.filter(organisation=fabrikam)
    assert invoices.count() == 1
    assert invoices.get().invoice.kind == Invoice.Kind.OVERAGE
    unbilled = records.filter(
        funded_by=FundedBy.OVERAGE, overage_invoice__isnull=True, charge__gt=0
    )
    assert not unbilled.filter(started_at__lt=closed_before(timezone.now())).exists()
    account = fabrikam.credit_account
    assert account.balance == 0
    assert not FundLot.objects.filter(account=account).exists()


def test_contoso_directory(seeded):
    contoso, _ = seeded
    users = DirectoryUser.objects.filter(organisation=contoso)
    assert users.count() == 200
    assert set(users.values_list("usage_location", flat=True)) == {"US", "GB", "DE", "JP", "KR"}
    with_credits = users.filter(assignments__product__sku="COMMS_CREDITS").count()
    assert 50 < with_credits < 200, "some with Communications Credits, some without"
    assert Assignment.objects.filter(user__organisation=contoso).count() > 400
