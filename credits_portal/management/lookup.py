from django.core.management.base import CommandError

from credits_portal.models import Organisation


def organisation_or_error(slug: str) -> Organisation:
    # NUL or a lone surrogate is no slug, and PostgreSQL would refuse the query itself.
    if not slug.isprintable():
        raise CommandError(f"No organisation with the slug {slug!r}.")
    try:
        return Organisation.objects.get(slug=slug)
    except Organisation.DoesNotExist:
        raise CommandError(f"No organisation with the slug {slug!r}.") from None
