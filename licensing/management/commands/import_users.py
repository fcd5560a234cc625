from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from credits_portal.audit import audit_command
from credits_portal.management.lookup import organisation_or_error
from licensing.exceptions import LicensingError
from licensing.services import users_upsert
from licensing.validation import MAX_CSV_BYTES, parse_users_csv


class Command(BaseCommand):
    help = "Create or update directory users from a CSV (upn,display_name,usage_location[,phone])."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("file")

    def handle(self, *args, slug, file, **options):
        organisation = organisation_or_error(slug)
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}")
        if path.stat().st_size > MAX_CSV_BYTES:
            raise CommandError(f"The file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB.")
        try:
            rows, errors = parse_users_csv(path.read_bytes())
        except LicensingError as exc:
            raise CommandError(exc.message) from exc
        if errors:
            for error in errors:
                self.stderr.write(f"line {error.line}: {error.upn}: {error.text}")
            raise CommandError(f"{len(errors)} rows have errors; nothing was imported.")
        with transaction.atomic():
            count = users_upsert(organisation=organisation, rows=rows)
            audit_command(
                organisation=organisation,
                command="import_users",
                action="users.imported",
                target=path.name,
                after={"rows": count},
            )
        self.stdout.write(f"{slug}: {count} users created or updated.")
