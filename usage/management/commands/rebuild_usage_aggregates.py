from django.core.management.base import BaseCommand, CommandError

from credits_portal.models import Organisation
from usage.services.aggregates import aggregates_rebuild


class Command(BaseCommand):
    help = (
        "Recompute the daily usage aggregates from the usage records, of one organisation (by "
        "slug) or of every one; each under its usage lock, so ingest may keep running."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", nargs="?", help="The organisation; every one when omitted.")

    def handle(self, *args, slug=None, **options):
        organisations = Organisation.objects.order_by("pk")
        if slug:
            organisations = organisations.filter(slug=slug)
            if not organisations.exists():
                raise CommandError(f"No organisation {slug!r}.")
        for organisation in organisations:
            rows = aggregates_rebuild(organisation=organisation)
            self.stdout.write(f"{organisation.slug}: {rows} daily aggregate rows.")
