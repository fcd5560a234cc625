from django.core.management.base import BaseCommand, CommandError

from credits_portal import services
from credits_portal.exceptions import PortalError
from credits_portal.models import Organisation


class Command(BaseCommand):
    help = "Create an organisation with its credit account (balance 0, auto-recharge off)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--currency", default="USD")
        parser.add_argument("--country", default="US")
        parser.add_argument("--commerce", default="legacy", choices=Organisation.Commerce.values)

    def handle(self, *args, slug, name, currency, country, commerce, **options):
        try:
            organisation = services.organisation_create(
                slug=slug, name=name, currency=currency, country=country, commerce=commerce
            )
        except PortalError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Created {organisation.slug} ({organisation.name}).")
