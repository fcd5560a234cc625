from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from credits_portal import services
from credits_portal.audit import audit_command
from credits_portal.exceptions import PortalError
from credits_portal.management.lookup import organisation_or_error
from credits_portal.permissions import Role


class Command(BaseCommand):
    help = "Give EMAIL a portal login with ROLE in the organisation SLUG."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("email")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password", help="Without one, the admin sets it by password reset.")

    def handle(self, *args, slug, email, role, password, **options):
        organisation = organisation_or_error(slug)
        try:
            with transaction.atomic():
                membership = services.membership_grant(
                    organisation=organisation, email=email, role=role, password=password
                )
                audit_command(
                    organisation=organisation,
                    command="create_admin",
                    action="admin.granted",
                    target=membership.user.email,
                    after={"role": membership.role},
                )
        except PortalError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"{membership.user.email} is {membership.get_role_display()} of {organisation.slug}."
        )
