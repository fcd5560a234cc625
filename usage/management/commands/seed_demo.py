import random
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from billing.models import BillingContact, EnterpriseAgreement
from billing.services.agreements import agreement_register
from billing.services.ledger import account_for
from billing.services.purchases import agreement_purchase, funds_grant
from credits_portal import services
from credits_portal.models import Organisation
from credits_portal.permissions import Role
from licensing.exceptions import AssignmentRefused, LicensingError
from licensing.models import DirectoryUser, Subscription
from licensing.services import licenses_apply_by_upn, seats_add, users_upsert
from licensing.validation import UserRow, clean_phone
from usage.models import UsageRecord
from usage.services import rating
from usage.services.ingest import usage_ingest
from usage.services.rates import rate_card_load

DEMO_RATE_CARD = Path(__file__).resolve().parents[2] / "data" / "demo_rate_card.csv"


def _valid_phone(row: UserRow) -> bool:
    try:
        clean_phone(row.phone_number)
    except LicensingError:
        return False
    return True


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
        parser.add_argument(
            "--usage-records", type=int, default=100_000, help="Calls and messages over 90 days."
        )

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
        self._directory(contoso)
        self._usage(contoso, options["usage_records"])
        self.stdout.write(
            "Demo organisations contoso and fabrikam; sign in as "
            + ", ".join(email for email, _ in DEMO_ADMINS)
            + f" with the password {password}"
        )

    def _funds(self, organisation: Organisation) -> None:
        """Lots of different ages, one expiring within 30 days; references keep it idempotent."""
        account = account_for(organisation)
        now = timezone.now()
        agreement = (
            EnterpriseAgreement.objects.filter(
                organisation=organisation, number="EA-4500123", removed_at__isnull=True
            ).first()
            or agreement_register(
                account=account,
                number="EA-4500123",
                name="Contoso EA 2026",
                credit_limit=Decimal("25000.00"),
                payment_terms_days=30,
            )[0]
        )
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

    def _directory(self, organisation: Organisation) -> None:
        """About 200 users across US, GB, DE, JP and KR with realistic mixes of licenses."""
        rng = random.Random(2026)  # noqa: S311  (the same demo every time, not a secret)
        countries = [
            ("US", "+1425555"),
            ("GB", "+44207946"),
            ("DE", "+49301234"),
            ("JP", "+81312345"),
            ("KR", "+82212345"),
        ]
        first = [
            "Ana",
            "Ben",
            "Chloe",
            "Dae",
            "Emil",
            "Fatima",
            "Goro",
            "Hana",
            "Ivan",
            "Jin",
            "Kai",
            "Lena",
            "Mina",
            "Noah",
            "Olga",
            "Priya",
            "Quinn",
            "Rui",
            "Sora",
            "Tom",
        ]
        last = [
            "Kim",
            "Smith",
            "Muller",
            "Tanaka",
            "Park",
            "Jones",
            "Schmidt",
            "Sato",
            "Lee",
            "Brown",
        ]
        rows = []
        for n in range(200):
            country, prefix = countries[n % len(countries)]
            given, family = first[n % len(first)], last[(n // len(first)) % len(last)]
            rows.append(
                UserRow(
                    upn=f"{given}.{family}{n}@contoso.example".lower(),
                    display_name=f"{given} {family}",
                    usage_location=country,
                    phone_number=f"{prefix}{n:04d}" if country != "US" else f"+1425555{n:04d}",
                )
            )
        for row in rows:
            if not _valid_phone(row):
                row.phone_number = ""
        users_upsert(organisation=organisation, rows=rows)
        for sku, seats in [
            ("E5", 100),
            ("AUDIO_CONF", 250),
            ("PHONE_SYSTEM", 250),
            ("CALLING_DOMESTIC", 150),
            ("CALLING_INTL", 100),
            ("CALLING_PAYG", 60),
            ("COMMS_CREDITS", 250),
        ]:
            current = Subscription.objects.filter(
                organisation=organisation, product__sku=sku
            ).first()
            if current is None or current.seats < seats:
                seats_add(
                    organisation=organisation,
                    sku=sku,
                    count=seats - (current.seats if current else 0),
                )
        plans = [
            {"E5", "CALLING_DOMESTIC", "COMMS_CREDITS"},
            {"E5", "CALLING_INTL", "COMMS_CREDITS"},
            {"PHONE_SYSTEM", "CALLING_DOMESTIC"},
            {"PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS"},
            {"AUDIO_CONF", "COMMS_CREDITS"},
            {"AUDIO_CONF"},
            {"PHONE_SYSTEM", "CALLING_PAYG", "COMMS_CREDITS"},
            {"PHONE_SYSTEM", "CALLING_INTL"},
        ]
        users = DirectoryUser.objects.filter(organisation=organisation).order_by("upn")
        held = {u.upn for u in users.filter(assignments__isnull=False)}
        rows = [(u.upn, set(rng.choice(plans)), set()) for u in users if u.upn not in held]
        for start in range(0, len(rows), 50):
            try:
                licenses_apply_by_upn(
                    organisation=organisation,
                    rows=rows[start : start + 50],
                    actor="seed_demo",
                    source="command",
                )
            except AssignmentRefused:
                continue  # out of seats for this batch: the demo shows some users unlicensed

    def _usage(self, organisation: Organisation, count: int) -> None:
        """90 days of calls and messages of every type, rated through the ingest service."""
        rate_card_load(currency=str(organisation.currency), text=DEMO_RATE_CARD.read_text())
        if UsageRecord.objects.filter(
            organisation=organisation, record_id__startswith="demo-"
        ).exists():
            return
        account = account_for(organisation)
        funds_grant(
            account=account,
            amount=Decimal("6000.00"),
            reference="demo:usage-funding",
            purchased_at=timezone.now() - timedelta(days=95),
            actor="seed_demo",
        )
        rng = random.Random(90)  # noqa: S311  (a repeatable demo)
        held = rating.licenses_of(list(DirectoryUser.objects.filter(organisation=organisation)))
        users = {u.pk: u for u in DirectoryUser.objects.filter(organisation=organisation)}

        def pick(*needs: str) -> list[DirectoryUser]:
            return [users[pk] for pk, skus in held.items() if set(needs) <= skus]

        planned = pick("PHONE_SYSTEM", "CALLING_DOMESTIC") + pick("PHONE_SYSTEM", "CALLING_INTL")
        callers = pick("PHONE_SYSTEM", "COMMS_CREDITS")
        meeting_hosts = pick("AUDIO_CONF", "COMMS_CREDITS")
        abroad = {
            "US": "+442071838750",
            "GB": "+14255550142",
            "DE": "+33142685300",
            "JP": "+821012345678",
            "KR": "+81312345678",
        }
        local = {
            "US": "+12015550",
            "GB": "+441212345",
            "DE": "+4930123",
            "JP": "+81312345",
            "KR": "+8222123",
        }
        toll_free = {
            "US": "+18005550100",
            "GB": "+448001234567",
            "DE": "+498001234567",
            "JP": "+81120123456",
            "KR": "+82801234567",
        }
        start = timezone.now() - timedelta(days=90)
        moments = sorted(start + timedelta(seconds=rng.randrange(90 * 86400)) for _ in range(count))
        records = []
        for n, moment in enumerate(moments):
            roll = rng.random()
            if roll < 0.45 and planned:
                user = rng.choice(planned)
                kind, call_type, to = (
                    "call",
                    "outbound",
                    f"{local[user.usage_location.code]}{rng.randrange(1000):03d}",
                )
            elif roll < 0.6 and callers:
                user = rng.choice(callers)
                kind, call_type, to = "call", "outbound", abroad[user.usage_location.code]
            elif roll < 0.72 and meeting_hosts:
                user = rng.choice(meeting_hosts)
                kind, call_type, to = (
                    "call",
                    "conference_dial_out",
                    f"{local[user.usage_location.code]}{rng.randrange(1000):03d}",
                )
            elif roll < 0.82 and meeting_hosts:
                user = rng.choice(meeting_hosts)
                kind, call_type, to = (
                    "call",
                    "toll_free_dial_in",
                    toll_free[user.usage_location.code],
                )
            elif callers:
                user = rng.choice(callers)
                kind, call_type, to = "sms", "sms", abroad[user.usage_location.code]
            else:
                continue
            record = {
                "id": f"demo-{n:06d}",
                "kind": kind,
                "type": call_type,
                "user": user.upn,
                "from": user.phone_number,
                "to": to,
                "started_at": moment.isoformat().replace("+00:00", "Z"),
            }
            if kind == "call":
                record["duration_seconds"] = int(rng.lognormvariate(5.2, 0.9))
            records.append(record)
        for batch in range(0, len(records), 1000):
            # Older than the platform may report (USAGE_MAX_AGE_DAYS): the operator's seed only.
            usage_ingest(
                organisation=organisation,
                records=records[batch : batch + 1000],
                max_age=timedelta(days=91),
            )

    def _organisation(self, slug, name, currency, country, commerce) -> Organisation:
        existing = Organisation.objects.filter(slug=slug).first()
        return existing or services.organisation_create(
            slug=slug, name=name, currency=currency, country=country, commerce=commerce
        )
