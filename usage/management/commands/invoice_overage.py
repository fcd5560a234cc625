from django.core.management.base import BaseCommand, CommandError

from usage.services.overage import OverageMismatch, overage_invoice_unbilled


class Command(BaseCommand):
    help = (
        "Invoice every overage not yet billed up to the end of the last closed month (UTC), "
        "whatever its month; what the monthly task runs. Safe to run twice."
    )

    def handle(self, *args, **options):
        try:
            issued = overage_invoice_unbilled()
        except OverageMismatch as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{issued} overage invoice{'' if issued == 1 else 's'} issued.")
