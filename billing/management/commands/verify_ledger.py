from django.core.management.base import BaseCommand, CommandError

from billing.services.verify import ledger_verify
from credits_portal.management.lookup import organisation_or_error


class Command(BaseCommand):
    help = (
        "Check the ledger invariants for one organisation or all; exit 0 only when none is broken."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", nargs="?")

    def handle(self, *args, slug, **options):
        organisation = organisation_or_error(slug) if slug else None
        violations = ledger_verify(organisation)
        for violation in violations:
            self.stdout.write(violation)
        if violations:
            raise CommandError(f"{len(violations)} ledger invariant violations.")
        self.stdout.write(f"Ledger OK for {slug or 'every organisation'}.")
