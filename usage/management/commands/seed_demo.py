from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import stripe
from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from billing.exceptions import BillingError
from billing.gateway.stripe_gateway import client
from billing.models import BillingContact, CreditAccount, EnterpriseAgreement
from billing.services import cards
from billing.services.agreements import agreement_register
from billing.services.ledger import account_for
from billing.services.purchases import agreement_purchase, funds_grant
from billing.services.recharge import recharge_run
from billing.services.recharge_settings import (
    auto_recharge_configure,
    recharge_card_save,
    recharge_method_set,
)
from credits_portal import services
from credits_portal.models import Organisation
from credits_portal.permissions import Role
from usage.demo import Directory, directory_seed, usage_records, usage_seed
from usage.models import UsageRecord
from usage.services.overage import closed_before, overage_invoice_organisation
from usage.services.rates import rate_card_load

DEMO_RATE_CARD = Path(__file__).resolve().parents[2] / "data" / "demo_rate_card.csv"

DEMO_ADMINS = [
    ("global@contoso.example", Role.GLOBAL),
    ("billing@contoso.example", Role.BILLING),
    ("license@contoso.example", Role.LICENSE),
    ("reports@contoso.example", Role.REPORTS),
]

CONTOSO = Directory(
    domain="contoso.example",
    countries=["US", "GB", "DE", "JP", "KR"],
    users=200,
    seats=[
        ("E5", 100),
        ("AUDIO_CONF", 250),
        ("PHONE_SYSTEM", 250),
        ("CALLING_DOMESTIC", 150),
        ("CALLING_INTL", 100),
        ("CALLING_PAYG", 60),
        ("COMMS_CREDITS", 250),
    ],
    plans=[
        {"E5", "CALLING_DOMESTIC", "COMMS_CREDITS"},
        {"E5", "CALLING_INTL", "COMMS_CREDITS"},
        {"PHONE_SYSTEM", "CALLING_DOMESTIC"},
        {"PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS"},
        {"AUDIO_CONF", "COMMS_CREDITS"},
        {"AUDIO_CONF"},
        {"PHONE_SYSTEM", "CALLING_PAYG", "COMMS_CREDITS"},
        {"PHONE_SYSTEM", "CALLING_INTL"},
    ],
    payer="COMMS_CREDITS",
)

# New commerce: no Communications Credits; minutes past the plans are overage, billed monthly.
FABRIKAM = Directory(
    domain="fabrikam.example",
    countries=["DE", "GB", "US"],
    users=40,
    seats=[
        ("E5", 30),
        ("PHONE_SYSTEM", 20),
        ("AUDIO_CONF", 20),
        ("CALLING_DOMESTIC", 30),
        ("CALLING_INTL", 20),
    ],
    plans=[
        {"E5", "CALLING_DOMESTIC"},
        {"E5", "CALLING_INTL"},
        {"PHONE_SYSTEM", "CALLING_DOMESTIC"},
        {"AUDIO_CONF"},
    ],
)

# contoso's funds: bought on its agreement as usage ran down, auto-recharged by card since.
TOP_UP_BELOW = Decimal("400.00")
TOP_UP = Decimal("1000.00")
RECHARGE_TRIGGER = Decimal("1500.00")  # above anything TOP_UP leaves: one recharge runs now
RECHARGE_AMOUNT = Decimal("1000.00")
DEMO_CARD = "4242424242424242"


# seed_demo lives in `usage`, the app that may import all the others (DESIGN.md).
class Command(BaseCommand):
    help = (
        "The demo organisations contoso (legacy commerce, healthy credits) and fabrikam "
        "(new commerce, overage billed monthly); safe to run twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", default="Contoso-Demo-2026")
        parser.add_argument(
            "--usage-records", type=int, default=100_000, help="contoso's calls and messages."
        )

    def handle(self, *args, password, **options):
        # No transaction around it all: each service owns its own, and the card is saved at the
        # gateway, which must not happen inside one.
        count = options["usage_records"]
        contoso = self._organisation("contoso", "Contoso Ltd", "USD", "US", "legacy")
        fabrikam = self._organisation("fabrikam", "Fabrikam GmbH", "EUR", "DE", "new")
        for email, role in DEMO_ADMINS:
            services.membership_grant(
                organisation=contoso, email=email, role=role, password=password
            )
        # The global admin belongs to both, to show the organisation switcher.
        services.membership_grant(
            organisation=fabrikam, email="global@contoso.example", role=Role.GLOBAL
        )
        services.membership_grant(
            organisation=fabrikam,
            email="billing@fabrikam.example",
            role=Role.BILLING,
            password=password,
        )
        for organisation, email, name in [
            (contoso, "billing@contoso.example", "Contoso AP"),
            (fabrikam, "billing@fabrikam.example", "Fabrikam Buchhaltung"),
        ]:
            BillingContact.objects.get_or_create(
                organisation=organisation, email=email, defaults={"name": name}
            )
        self._contoso(contoso, count)
        self._fabrikam(fabrikam, max(count // 4, 1))
        self.stdout.write(
            "Demo organisations contoso and fabrikam; sign in as "
            + ", ".join(email for email, _ in DEMO_ADMINS)
            + f" (or billing@fabrikam.example) with the password {password}"
        )

    def _contoso(self, organisation: Organisation, count: int) -> None:
        """A healthy legacy-commerce account: funds bought on the agreement as 90 days of usage
        drew them, a card recharge today, and two lots untouched (one expiring in 20 days)."""
        account = account_for(organisation)
        now = timezone.now()
        agreement = self._agreement(account)
        agreement_purchase(
            account=account,
            agreement=agreement,
            amount=Decimal("500.00"),
            po_number="PO-2026-0042",
            reference="demo:agreement-purchase",
            purchased_at=now - timedelta(days=120),
            actor="seed_demo",
        )
        directory_seed(organisation=organisation, directory=CONTOSO)
        rate_card_load(currency=str(organisation.currency), text=DEMO_RATE_CARD.read_text())
        if not self._seeded(organisation):

            def top_up(number: int, moment: datetime) -> None:
                account.refresh_from_db()
                if account.balance < TOP_UP_BELOW:
                    agreement_purchase(
                        account=account,
                        agreement=agreement,
                        amount=TOP_UP,
                        po_number=f"PO-2026-{100 + number:04d}",
                        reference=f"demo:usage-top-up-{number}",
                        purchased_at=moment - timedelta(hours=1),
                        actor="seed_demo",
                    )

            records = usage_records(organisation=organisation, directory=CONTOSO, count=count)
            usage_seed(organisation=organisation, records=records, before_batch=top_up)
        self._auto_recharge(account, agreement)
        # Added after the usage, so nothing drew them: the lot migrated from the old portal
        # expires in 20 days (the expiry notice and the Home alert show it).
        funds_grant(
            account=account,
            amount=Decimal("200.00"),
            reference="demo:migrated-lot",
            purchased_at=now - timedelta(days=345),
            actor="seed_demo",
        )
        funds_grant(
            account=account,
            amount=Decimal("50.00"),
            reference="demo:welcome-credit",
            purchased_at=now - timedelta(days=10),
            actor="seed_demo",
        )

    def _agreement(self, account: CreditAccount) -> EnterpriseAgreement:
        found = EnterpriseAgreement.objects.filter(
            organisation=account.organisation, number="EA-4500123", removed_at__isnull=True
        ).first()
        return (
            found
            or agreement_register(
                account=account,
                number="EA-4500123",
                name="Contoso EA 2026",
                credit_limit=Decimal("25000.00"),
                payment_terms_days=30,
            )[0]
        )

    def _auto_recharge(self, account: CreditAccount, agreement: EnterpriseAgreement) -> None:
        """A saved card (entered as Stripe.js would, on localstripe), auto-recharge on, and the
        recharge that the balance below the trigger makes due, run now rather than by the worker.
        With a real Stripe account no card is entered: the agreement pays the recharges."""
        if cards.card_current(account) is None:
            if settings.STRIPE_API_BASE:
                recharge_card_save(account=account, setup_intent_id=self._card_entered(account))
            else:
                recharge_method_set(account=account, agreement=agreement)
        account.refresh_from_db()
        if not account.auto_recharge_enabled:
            auto_recharge_configure(
                account=account,
                enabled=True,
                trigger_amount=RECHARGE_TRIGGER,
                recharge_amount=RECHARGE_AMOUNT,
            )
        recharge_run(account_id=account.pk)

    def _card_entered(self, account: CreditAccount) -> str:
        setup_id, _secret = cards.card_setup_intent(account=account)
        try:
            client().v1.setup_intents.confirm(
                setup_id,
                params={
                    "payment_method_data": {
                        "type": "card",
                        "card": {
                            "number": DEMO_CARD,
                            "exp_month": 12,
                            "exp_year": 2031,
                            "cvc": "123",
                        },
                    }
                },
            )
        except stripe.StripeError as exc:
            raise BillingError(f"The demo card was refused by the gateway: {exc}") from exc
        return setup_id

    def _fabrikam(self, organisation: Organisation, count: int) -> None:
        """A complete new-commerce organisation: users with seats and plans, the EUR rate card,
        90 days of usage whose overage accrues, and the closed months invoiced."""
        directory_seed(organisation=organisation, directory=FABRIKAM)
        rate_card_load(currency=str(organisation.currency), text=DEMO_RATE_CARD.read_text())
        if not self._seeded(organisation):
            records = usage_records(organisation=organisation, directory=FABRIKAM, count=count)
            usage_seed(organisation=organisation, records=records)
        # What the monthly beat task does, for the months already closed; a second run finds
        # every closed month billed.
        overage_invoice_organisation(
            organisation=organisation, before=closed_before(timezone.now())
        )

    def _seeded(self, organisation: Organisation) -> bool:
        return UsageRecord.objects.filter(
            organisation=organisation, record_id__startswith="demo-"
        ).exists()

    def _organisation(self, slug, name, currency, country, commerce) -> Organisation:
        existing = Organisation.objects.filter(slug=slug).first()
        return existing or services.organisation_create(
            slug=slug, name=name, currency=currency, country=country, commerce=commerce
        )
