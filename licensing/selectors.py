"""Reads that other apps share; the call path's lookups are plain SQL because they run per call."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

_HOLDER_SQL = """
SELECT u.id, u.upn, u.usage_location, ARRAY(
    SELECT p.sku FROM licensing_assignment a
    JOIN licensing_product p ON p.id = a.product_id
    WHERE a.user_id = u.id
)
FROM licensing_directoryuser u
WHERE u.organisation_id = %s AND u.upn = ANY(%s)
"""


@dataclass(frozen=True)
class Holder:
    """A directory user as the call path sees them: where they use the service, what they hold
    (assigned SKUs, bundles not expanded)."""

    id: int
    usage_location: str
    skus: frozenset[str]


def holders_of(*, organisation_id: int, upns: Iterable[str]) -> dict[str, Holder]:
    """The organisation's users with these UPNs (stored lower-case) and their assigned SKUs, in
    one query, by UPN; unknown UPNs are absent."""
    with connection.cursor() as cursor:
        cursor.execute(_HOLDER_SQL, [organisation_id, list(upns)])
        return {upn: Holder(pk, location, frozenset(skus)) for pk, upn, location, skus in cursor}


def holder_of(*, organisation_id: int, upn: str) -> Holder | None:
    upn = upn.strip().lower()
    return holders_of(organisation_id=organisation_id, upns=[upn]).get(upn)
