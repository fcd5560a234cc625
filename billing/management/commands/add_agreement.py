from django.core.management.base import BaseCommand, CommandError

from billing.exceptions import BillingError
from billing.money import format_money
from billing.services.agreements import agreement_register
from billing.services.ledger import account_for
from credits_portal.audit import audit_command
from credits_portal.management.lookup import organisation_or_error


class Command(BaseCommand):
    help = (
        "Register an Enterprise Agreement for an organisation with a credit limit (or approve "
        "the admin's request for it); run again to change its limit and terms."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("number", help="The agreement number, e.g. EA-4500123.")
        parser.add_argument(
            "--credit-limit",
            help="Required. Due invoices on the agreement plus a new purchase may not pass it.",
        )
        parser.add_argument(
            "--terms-days",
            help="Payment terms, 0 to 120 days (30 for a new agreement when not given).",
        )
        parser.add_argument("--name", default=None, help="A label, e.g. 'Contoso EA 2026'.")

    def handle(self, *args, slug, number, credit_limit, terms_days, name, **options):
        organisation = organisation_or_error(slug)
        account = account_for(organisation)
        if not credit_limit:
            raise CommandError("--credit-limit is required, e.g. --credit-limit 50000.")
        terms = None
        if terms_days is not None:
            if not terms_days.strip().isdigit() or not terms_days.isascii():
                raise CommandError(f"--terms-days: {terms_days!r} is not 0 to 120 days.")
            terms = int(terms_days)
        try:
            agreement, outcome = agreement_register(
                account=account,
                number=number,
                credit_limit=credit_limit,
                payment_terms_days=terms,
                name=name,
            )
        except BillingError as exc:
            raise CommandError(exc.message) from exc
        audit_command(
            organisation=organisation,
            command="add_agreement",
            action=f"agreement.{outcome}",
            target=agreement.number,
            after={
                "credit_limit": agreement.credit_limit,
                "payment_terms_days": agreement.payment_terms_days,
            },
        )
        limit = format_money(agreement.credit_limit, str(account.currency))
        self.stdout.write(
            f"{slug}: {agreement} {outcome}, credit limit {limit}, "
            f"payment terms {agreement.payment_terms_days} days."
        )
