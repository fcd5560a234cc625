from django.core.management.base import BaseCommand, CommandError

from billing.exceptions import BillingError
from billing.services.invoices import invoice_by_display_number, invoice_mark_paid
from credits_portal.audit import audit_command


class Command(BaseCommand):
    help = (
        "Record that a due invoice (e.g. on an Enterprise Agreement) was paid, freeing its amount "
        "on the agreement's credit limit. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("number", help="The invoice number as printed, e.g. CONTOSO-000012.")

    def handle(self, *args, number, **options):
        invoice = invoice_by_display_number(number)
        if invoice is None:
            raise CommandError(f"No invoice {number!r}.")
        try:
            changed = invoice_mark_paid(invoice=invoice)
        except BillingError as exc:
            raise CommandError(exc.message) from exc
        if not changed:
            self.stdout.write(f"{invoice.display_number} was already paid.")
            return
        audit_command(
            organisation=invoice.account.organisation,
            command="mark_invoice_paid",
            action="invoice.paid",
            target=invoice.display_number,
            before={"status": "due"},
            after={"status": invoice.status, "paid_at": invoice.paid_at},
        )
        self.stdout.write(f"{invoice.display_number} is paid.")
