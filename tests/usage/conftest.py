from __future__ import annotations

import pytest

from tests.builders import (
    demo_rate_card,
    licensed_user,
    make_api_key,
    make_org,
    seats,
    seats_of_every_sku,
)


@pytest.fixture
def rated(org):
    """contoso (legacy, USD) with the demo rate card and plenty of seats."""
    demo_rate_card()
    seats_of_every_sku(org, 50)
    return org


@pytest.fixture
def person(rated):
    """A user builder: person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")."""

    def build(name: str, country: str, *skus: str, org=None):
        organisation = org or rated
        return licensed_user(organisation, f"{name}@{organisation.slug}.example", country, *skus)

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


@pytest.fixture
def nia(newco):
    """newco (new commerce) with a user whose calls beyond any plan are overage."""
    demo_rate_card()
    licensed_user(newco, "nia@newco.example", "US", "PHONE_SYSTEM")
    return newco
