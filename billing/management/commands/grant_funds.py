import uuid
from datetime import UTC

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from billing.exceptions import BillingError
from billing.money import format_money, parse_amount
from billing.services.agreements import AGREEMENT_NUMBER, agreements_choosable
from billing.services.ledger import account_for
from billing.services.purchases import agreement_purchase, clean_po_number, funds_grant
from credits_portal.audit import audit_command
from credits_portal.management.lookup import organisation_or_error


class Command(BaseCommand):
    help = (
        "Add a fund lot as an operator: promotional credit, an Enterprise Agreement purchase, "
        "or an "
        "existing lot migrated with its original purchase time. Expires 12 months after purchase."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("amount")
        parser.add_argument("--purchased-at", help="ISO 8601; defaults to now.")
        parser.add_argument(
            "--reference", help="Makes the grant idempotent: the same one twice adds once."
        )
        parser.add_argument("--enterprise-agreement", dest="agreement", help="Agreement number.")
        parser.add_argument(
            "--po", default="", help="Purchase order number (with --enterprise-agreement)."
        )

    def handle(self, *args, slug, amount, purchased_at, reference, agreement, po, **options):
        organisation = organisation_or_error(slug)
        account = account_for(organisation)
        if po and not agreement:
            raise CommandError("--po needs --enterprise-agreement.")
        when = None
        if purchased_at:
            try:
                when = parse_datetime(purchased_at)
            except ValueError:  # well formed but impossible, e.g. month 13
                when = None
            if when is None:
                raise CommandError(f"--purchased-at: {purchased_at!r} is not an ISO 8601 time.")
            if timezone.is_naive(when):
                when = timezone.make_aware(when, UTC)
        if reference and not (len(reference) <= 200 and reference.isprintable()):
            raise CommandError("--reference: at most 200 printable characters.")
        reference = reference or f"grant:{uuid.uuid4()}"
        try:
            value = parse_amount(amount, str(account.currency))
            po = clean_po_number(po)
            with transaction.atomic():
                if agreement:
                    # Only an agreement registered with `add_agreement`, within its credit limit.
                    found = (
                        agreements_choosable(organisation).filter(number=agreement).first()
                        if AGREEMENT_NUMBER.match(agreement)
                        else None
                    )
                    if found is None:
                        raise CommandError(
                            f"{slug} has no registered agreement {agreement!r}; "
                            "register it first with add_agreement."
                        )
                    lot = agreement_purchase(
                        account=account,
                        agreement=found,
                        amount=value,
                        reference=reference,
                        po_number=po,
                        actor="operator",
                        purchased_at=when,
                    )
                else:
                    lot = funds_grant(
                        account=account,
                        amount=value,
                        reference=reference,
                        purchased_at=when,
                        actor="operator",
                    )
                audit_command(
                    organisation=organisation,
                    command="grant_funds",
                    action="funds.granted",
                    target=lot.code,
                    after={
                        "amount": lot.amount,
                        "purchased_at": lot.purchased_at,
                        "expires_at": lot.expires_at,
                        "reference": reference,
                        "agreement": agreement or None,
                        "po_number": po or None,
                    },
                )
        except BillingError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"{slug}: lot {lot.code} of {format_money(lot.amount, str(account.currency))}, "
            f"purchased {lot.purchased_at:%Y-%m-%d %H:%M}Z, expires {lot.expires_at:%Y-%m-%d}."
        )
