from __future__ import annotations

from pathlib import Path

import pytest

from licensing.services import Change, license_change
from tests.builders import make_api_key, make_org, make_user, seats
from usage.services.rates import rate_card_load

DEMO_CARD = Path(__file__).resolve().parents[2] / "usage" / "data" / "demo_rate_card.csv"


@pytest.fixture
def rated(org):
    """contoso (legacy, USD) with the demo rate card and plenty of seats."""
    rate_card_load(currency="USD", text=DEMO_CARD.read_text())
    seats(
        org,
        **{
            sku: 50
            for sku in [
                "AUDIO_CONF",
                "PHONE_SYSTEM",
                "CALLING_DOMESTIC",
                "CALLING_INTL",
                "CALLING_PAYG",
                "COMMS_CREDITS",
                "E5",
            ]
        },
    )
    return org


@pytest.fixture
def person(rated):
    """A user builder: person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")."""

    def build(name: str, country: str, *skus: str, org=None):
        organisation = org or rated
        user = make_user(organisation, f"{name}@{organisation.slug}.example", country=country)
        if skus:
            license_change(
                organisation=organisation, changes=[Change(user, set(skus))], actor="t", source="t"
            )
        return user

    return build


@pytest.fixture
def platform(client, rated):
    key = make_api_key(rated, "platform")

    def post(path: str, body: dict, **headers):
        return client.post(
            f"/api/v1{path}",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
            **headers,
        )

    return post


@pytest.fixture
def newco(db):
    org = make_org("newco", name="NewCo", commerce="new")
    seats(org, PHONE_SYSTEM=5, CALLING_DOMESTIC=5, AUDIO_CONF=5)
    return org
