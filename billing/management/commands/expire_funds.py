from django.core.management.base import BaseCommand

from billing.services.ledger import funds_expire


class Command(BaseCommand):
    help = "Expire every lot whose 12 months have passed (what the hourly task runs)."

    def handle(self, *args, **options):
        self.stdout.write(f"Expired {funds_expire()} lots.")
