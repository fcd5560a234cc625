from django.core.management.base import BaseCommand
from django.db import transaction

from credits_portal import services
from credits_portal.audit import audit_command
from credits_portal.management.lookup import organisation_or_error
from credits_portal.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for SLUG and print it, alone, on stdout. It is not shown again."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--scope", required=True, choices=ApiKey.Scope.values)
        parser.add_argument("--name", default="", help="Defaults to “<scope> key (command line)”.")

    def handle(self, *args, slug, scope, name, **options):
        organisation = organisation_or_error(slug)
        with transaction.atomic():
            key, plain = services.api_key_create(
                organisation=organisation, scope=scope, name=name or f"{scope} key (command line)"
            )
            audit_command(
                organisation=organisation,
                command="create_api_key",
                action="api_key.created",
                target=key.name,
                after={"prefix": key.prefix, "scope": key.scope},
            )
        self.stdout.write(plain)
