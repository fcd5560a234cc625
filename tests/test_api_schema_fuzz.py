"""schemathesis: the OpenAPI schema run against the live server with bounded examples.

No 500s, and every response conforms to the schema: its status code is documented, its content
type and body match (problem+json for errors). Business rules beyond the schema (an amount of 0,
an unknown user) may refuse schema-valid data, so positive-data acceptance is not checked.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.builders import grant, make_api_key, make_org, make_user, seats
from tests.usage.conftest import DEMO_CARD

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
PLATFORM_PATHS = {"/api/v1/calls/authorize", "/api/v1/usage/records"}


@pytest.mark.django_db(transaction=True)
def test_the_api_conforms_to_its_schema(live_server):
    from usage.services.rates import rate_card_load

    org = make_org("fuzz", name="Fuzz")
    rate_card_load(currency="USD", text=DEMO_CARD.read_text())
    seats(org, PHONE_SYSTEM=5, COMMS_CREDITS=5)
    make_user(org, "ana@fuzz.example")
    grant(org, "100")
    keys = {"admin": make_api_key(org, "admin"), "platform": make_api_key(org, "platform")}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10

    @settings(
        max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(st.data())
    def exercise(data) -> None:
        for operation in operations:
            case = data.draw(operation.as_strategy())
            scope = "platform" if case.path in PLATFORM_PATHS and case.method == "POST" else "admin"
            response = case.call(headers={"Authorization": f"Bearer {keys[scope]}"})
            case.validate_response(response, checks=CHECKS)

    exercise()
