from django.core.management.base import CommandError

from credits_portal.models import Organisation


def organisation_or_error(slug: str) -> Organisation:
    try:
        return Organisation.objects.get(slug=slug)
    except Organisation.DoesNotExist:
        raise CommandError(f"No organisation with the slug {slug!r}.") from None
