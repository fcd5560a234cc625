"""schemathesis: the OpenAPI schema run against the API with hostile strings (issue 14).

Each example draws a case for every operation from the schema, then replaces some of its
strings (JSON fields at any depth, path and query values) with hostile text: NUL and other
control characters, lone surrogates (JSON only: a URL cannot carry one), 10,000 characters,
numbers and dates beyond their ranges. No 500s, and every response conforms to the schema:
its status code is documented, its content type and body match (problem+json for errors).
Business rules beyond the schema (an amount of 0, an unknown user) may refuse schema-valid data,
so positive-data acceptance is not checked.

`FUZZ_EXAMPLES` examples an operation (200 by default, as issue 14 asks); the test is marked
`slow` so that `pytest -m "not slow"` can leave it out while editing; `make test` runs it.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.builders import demo_rate_card, grant, make_api_key, make_org, make_user, seats

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
PLATFORM_PATHS = {"/api/v1/calls/authorize", "/api/v1/usage/records"}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
SLOW_SECONDS = 3.0

HOSTILE_WORDS = [
    "\x00",
    "a\x00b",
    "\x1b[0m",
    "\x85",
    "x" * 10_000,
    "a" * 300 + "@fuzz.example",
    "-1",
    str(2**63),
    "-9223372036854775809",
    "1e309",
    "NaN",
    "Infinity",
    "true",
    "[]",
    "{}",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "AA==",  # a cursor that decodes to NUL
    "ana@fuzz.example",
]


def hostile_text(*, surrogates: bool) -> st.SearchStrategy[str]:
    categories = ["Cc", "Cf", "Zs", "Lu", "Ll", "Lo", "Nd", "Po", "So"]
    if surrogates:
        categories.append("Cs")
    words = HOSTILE_WORDS + (["\ud800", "ok\udfff"] if surrogates else [])
    return st.one_of(
        st.sampled_from(words),
        st.text(st.characters(categories=categories), max_size=300),
    )


JSON_TEXT = hostile_text(surrogates=True)
URL_TEXT = hostile_text(surrogates=False)
# An empty, `.` or `..` segment, or a `/`, `?`, `#` or `%` (schemathesis puts these in the URL
# as they are), makes another URL (a page outside the API, a query), not a hostile value.
SEGMENT_TEXT = URL_TEXT.map(lambda text: text.translate(str.maketrans("", "", "/?#%"))).filter(
    lambda text: text not in ("", ".", "..")
)
JSON_ODD = st.one_of(
    JSON_TEXT,
    st.sampled_from([-1, 2**63, -(2**63) - 1, 1e308, True, [], {}, None]),
)


def mutated(value: Any, data: st.DataObject, strategy: st.SearchStrategy) -> Any:
    """`value` with about one value in four, at any depth, drawn from `strategy`."""
    if isinstance(value, dict):
        return {k: mutated(v, data, strategy) for k, v in value.items()}
    if isinstance(value, list):
        return [mutated(v, data, strategy) for v in value]
    if not data.draw(st.integers(0, 3)):
        return data.draw(strategy)
    return value


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_api_survives_hostile_strings_and_conforms_to_its_schema():
    org = make_org("fuzz", name="Fuzz")
    demo_rate_card()
    seats(org, PHONE_SYSTEM=5, COMMS_CREDITS=5)
    make_user(org, "ana@fuzz.example")
    grant(org, "100")
    keys = {"admin": make_api_key(org, "admin"), "platform": make_api_key(org, "platform")}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    slow: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        # A failure prints its request; shrinking 14 operations' draws would take minutes.
        phases=[Phase.explicit, Phase.generate],
    )
    @given(st.data())
    def exercise(data) -> None:
        for operation in operations:
            case = data.draw(operation.as_strategy())
            if case.path_parameters:
                case.path_parameters = mutated(case.path_parameters, data, SEGMENT_TEXT)
            if case.query:
                case.query = mutated(case.query, data, URL_TEXT)
            if case.body is not None and not isinstance(case.body, bytes):
                case.body = mutated(case.body, data, JSON_ODD)
            # Our edits are the case as sent: schemathesis would re-check them against the
            # schema client-side, and its validator cannot encode a lone surrogate.
            case._record_starting_state()
            scope = "platform" if case.path in PLATFORM_PATHS and case.method == "POST" else "admin"
            started = time.monotonic()
            response = case.call(headers={"Authorization": f"Bearer {keys[scope]}"})
            if time.monotonic() - started > SLOW_SECONDS:
                slow.append(f"{case.method} {case.path} {case.query} {str(case.body)[:200]}")
            case.validate_response(response, checks=CHECKS)

    exercise()
    assert slow == []
