from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from credits_portal.audit import audit_command
from credits_portal.management.lookup import organisation_or_error
from licensing.exceptions import AssignmentRefused, LicensingError
from licensing.services import licenses_apply_by_upn
from licensing.validation import MAX_CSV_BYTES, clean_upn, parse_licenses_csv, split_skus


class Command(BaseCommand):
    help = (
        "Assign or remove licenses for many users at once, all or nothing: --csv FILE "
        "(upn,assign,remove; several SKUs in a cell separated by ;) or --users UPN,UPN "
        "with --assign/--remove SKU,SKU."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--csv", dest="csv_file")
        source.add_argument("--users")
        parser.add_argument("--assign", default="")
        parser.add_argument("--remove", default="")

    def handle(self, *args, slug, csv_file, users, assign, remove, **options):
        organisation = organisation_or_error(slug)
        try:
            rows = self._rows(csv_file, users, assign, remove)
            with transaction.atomic():
                final = licenses_apply_by_upn(
                    organisation=organisation, rows=rows, actor="assign_licenses", source="command"
                )
                for upn, skus in final.items():
                    audit_command(
                        organisation=organisation,
                        command="assign_licenses",
                        action="licenses.changed",
                        target=upn,
                        after={"licenses": sorted(skus)},
                    )
        except AssignmentRefused as exc:
            for upn, _assign, _remove in rows:
                reasons = exc.problems.get(upn)
                self.stdout.write(
                    f"{upn}: {'refused: ' + ' '.join(reasons) if reasons else 'ok (not applied)'}"
                )
            raise CommandError(
                f"{len(exc.problems)} users cannot be changed; nothing was applied."
            ) from exc
        except LicensingError as exc:
            raise CommandError(exc.message) from exc
        for upn, skus in final.items():
            self.stdout.write(f"{upn}: {', '.join(sorted(skus)) or 'no licenses'}")

    def _rows(self, csv_file, users, assign, remove):
        if csv_file:
            if assign or remove:
                raise CommandError("With --csv, the file says what to assign and remove.")
            path = Path(csv_file)
            if not path.is_file():
                raise CommandError(f"No such file: {csv_file}")
            if path.stat().st_size > MAX_CSV_BYTES:
                raise CommandError(f"The file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB.")
            good, bad = parse_licenses_csv(path.read_bytes())
            if bad:
                for error in bad:
                    self.stdout.write(f"line {error.line}: {error.upn}: {error.text}")
                raise CommandError(f"{len(bad)} rows have errors; nothing was applied.")
            return [(row.upn, row.assign, row.remove) for row in good]
        if not assign and not remove:
            raise CommandError("Say what to do: --assign SKU,… and/or --remove SKU,….")
        upns = [clean_upn(u) for u in users.split(",") if u.strip()]
        if len(set(upns)) != len(upns):
            raise CommandError("A user is named twice in --users.")
        return [(upn, split_skus(assign), split_skus(remove)) for upn in upns]
