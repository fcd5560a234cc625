from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from credits_portal.audit import audit_command
from credits_portal.management.lookup import organisation_or_error
from licensing.exceptions import LicensingError
from licensing.services import seats_add


class Command(BaseCommand):
    help = "Buy COUNT more seats of license SKU for the organisation SLUG."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("sku")
        parser.add_argument("count", type=int)

    def handle(self, *args, slug, sku, count, **options):
        organisation = organisation_or_error(slug)
        try:
            with transaction.atomic():
                subscription = seats_add(organisation=organisation, sku=sku.upper(), count=count)
                audit_command(
                    organisation=organisation,
                    command="add_seats",
                    action="seats.added",
                    target=subscription.product.label,
                    before={"seats": subscription.seats - count},
                    after={"seats": subscription.seats},
                )
        except LicensingError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"{slug}: {subscription.product.sku} {subscription.seats} seats, "
            f"{subscription.assigned} assigned."
        )
