from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from billing.models import BillingContact, EnterpriseAgreement
from billing.services.ledger import account_for
from billing.services.purchases import agreement_add, agreement_purchase, funds_grant
from credits_portal import services
from credits_portal.models import Organisation
from credits_portal.permissions import Role

DEMO_ADMINS = [
    ("global@contoso.example", Role.GLOBAL),
    ("billing@contoso.example", Role.BILLING),
    ("license@contoso.example", Role.LICENSE),
    ("reports@contoso.example", Role.REPORTS),
]


# seed_demo lives in `usage`, the app that may import all the others (DESIGN.md).
class Command(BaseCommand):
    help = "The demo organisation `contoso` (and `fabrikam`, new commerce); safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument("--password", default="Contoso-Demo-2026")

    @transaction.atomic
    def handle(self, *args, password, **options):
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
        BillingContact.objects.get_or_create(
            organisation=contoso, email="billing@contoso.example", defaults={"name": "Contoso AP"}
        )
        self._funds(contoso)
        self.stdout.write(
            "Demo organisations contoso and fabrikam; sign in as "
            + ", ".join(email for email, _ in DEMO_ADMINS)
            + f" with the password {password}"
        )

    def _funds(self, organisation: Organisation) -> None:
        """Lots of different ages, one expiring within 30 days; references keep it idempotent."""
        account = account_for(organisation)
        now = timezone.now()
        agreement = EnterpriseAgreement.objects.filter(
            organisation=organisation, number="EA-4500123", removed_at__isnull=True
        ).first() or agreement_add(account=account, number="EA-4500123", name="Contoso EA 2026")
        funds_grant(
            account=account,
            amount=Decimal("200.00"),
            reference="demo:migrated-lot",
            purchased_at=now - timedelta(days=345),
            actor="seed_demo",
        )
        agreement_purchase(
            account=account,
            agreement=agreement,
            amount=Decimal("500.00"),
            po_number="PO-2026-0042",
            reference="demo:agreement-purchase",
            purchased_at=now - timedelta(days=120),
            actor="seed_demo",
        )
        funds_grant(
            account=account,
            amount=Decimal("50.00"),
            reference="demo:welcome-credit",
            purchased_at=now - timedelta(days=10),
            actor="seed_demo",
        )

    def _organisation(self, slug, name, currency, country, commerce) -> Organisation:
        existing = Organisation.objects.filter(slug=slug).first()
        return existing or services.organisation_create(
            slug=slug, name=name, currency=currency, country=country, commerce=commerce
        )
