"""Builders for test objects, through the same services the product uses."""

from __future__ import annotations

import itertools
from pathlib import Path

from credits_portal import services
from credits_portal.models import Organisation, User
from credits_portal.permissions import Role

PASSWORD = "Correct-Horse-Battery-9"
# Every SKU of the catalogue: seats of each let a test assign any combination.
EVERY_SKU = (
    "AUDIO_CONF",
    "PHONE_SYSTEM",
    "CALLING_DOMESTIC",
    "CALLING_INTL",
    "CALLING_PAYG",
    "COMMS_CREDITS",
    "E5",
)
DEMO_RATE_CARD = Path(__file__).resolve().parent.parent / "usage" / "data" / "demo_rate_card.csv"
_seq = itertools.count(1)


def make_org(slug: str | None = None, **fields) -> Organisation:
    slug = slug or f"org-{next(_seq)}"
    fields.setdefault("name", slug.title())
    return services.organisation_create(slug=slug, **fields)


def make_member(
    organisation: Organisation, role: str = Role.GLOBAL, email: str | None = None
) -> User:
    email = email or f"{role}-{next(_seq)}@{organisation.slug}.example"
    return services.membership_grant(
        organisation=organisation, email=email, role=role, password=PASSWORD
    ).user


def make_api_key(organisation: Organisation, scope: str = "admin") -> str:
    _key, plain = services.api_key_create(
        organisation=organisation, name=f"{scope} key", scope=scope
    )
    return plain


def account_of(organisation: Organisation):
    from billing.services.ledger import account_for

    return account_for(organisation)


def grant(organisation: Organisation, amount: str, *, reference: str | None = None, **kwargs):
    """A lot of `amount` for `organisation`, through the operator's grant service."""
    from decimal import Decimal

    from billing.services.purchases import funds_grant

    return funds_grant(
        account=account_of(organisation),
        amount=Decimal(amount),
        reference=reference or f"test-grant-{next(_seq)}",
        **kwargs,
    )


def make_user(organisation: Organisation, upn: str | None = None, country: str = "US"):
    from licensing.models import DirectoryUser

    n = next(_seq)
    return DirectoryUser.objects.create(
        organisation=organisation,
        upn=upn or f"user{n}@{organisation.slug}.example",
        display_name=f"User {n}",
        usage_location=country,
    )


def seats(organisation: Organisation, **counts: int) -> None:
    from licensing.services import seats_add

    for sku, count in counts.items():
        seats_add(organisation=organisation, sku=sku, count=count)


def seats_of_every_sku(organisation: Organisation, count: int) -> None:
    seats(organisation, **dict.fromkeys(EVERY_SKU, count))


def licensed_user(organisation: Organisation, upn: str, country: str, *skus: str):
    """A directory user of `country` holding `skus`, assigned through the licensing service."""
    from licensing.services import Change, license_change

    user = make_user(organisation, upn, country=country)
    if skus:
        license_change(
            organisation=organisation, changes=[Change(user, set(skus))], actor="t", source="t"
        )
    return user


def demo_rate_card(currency: str = "USD") -> None:
    """The demo rate card (usage/data/demo_rate_card.csv) as `currency`'s card."""
    from usage.services.rates import rate_card_load

    rate_card_load(currency=currency, text=DEMO_RATE_CARD.read_text())
