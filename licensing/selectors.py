"""Reads that other apps share; the call path's lookups are plain SQL because they run per call."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

_HOLDER_SQL = """
SELECT u.id, u.usage_location, ARRAY(
    SELECT p.sku FROM licensing_assignment a
    JOIN licensing_product p ON p.id = a.product_id
    WHERE a.user_id = u.id
)
FROM licensing_directoryuser u
WHERE u.organisation_id = %s AND u.upn = %s
"""


@dataclass(frozen=True)
class Holder:
    """A directory user as the call path sees them: where they use the service, what they hold
    (assigned SKUs, bundles not expanded)."""

    id: int
    usage_location: str
    skus: frozenset[str]


def holder_of(*, organisation_id: int, upn: str) -> Holder | None:
    """The user with this UPN in the organisation and their assigned SKUs, in one query."""
    with connection.cursor() as cursor:
        cursor.execute(_HOLDER_SQL, [organisation_id, upn.strip().lower()])
        row = cursor.fetchone()
    return None if row is None else Holder(row[0], row[1], frozenset(row[2]))
