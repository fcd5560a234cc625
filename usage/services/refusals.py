"""Refused calls: each refusal of authorization counted, cheaply, for Reports › Refused calls.

One statement per refusal, an upsert of the (organisation, UTC day, UPN, reason, type) row:
a platform retrying a refused call thousands of times counts one row up, it does not grow the
table by thousands. Unknown callers are keyed by the UPN the platform sent; past
`UNKNOWN_PER_DAY` distinct unknown UPNs in a day the rest share one row, so a flood of made-up
names cannot grow it without bound either. Recording never fails the authorization: a refusal
is answered whatever happens here, and it is committed without waiting for the disk flush
(a count, not money).
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

from billing.services.reservations import relaxed_commit
from usage.models import RefusalReason
from usage.services.rates import country_of

log = logging.getLogger(__name__)

UNKNOWN_PER_DAY = 1000
OTHER_UNKNOWN = "(other unknown users)"

_UPSERT_SQL = """
WITH caller AS (
    SELECT id FROM licensing_directoryuser WHERE organisation_id = %(org)s AND upn = %(upn)s
), chosen AS (
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM caller) THEN %(upn)s
        WHEN EXISTS (
            SELECT 1 FROM usage_refusedcall
            WHERE organisation_id = %(org)s AND day = %(day)s AND upn = %(upn)s
        ) THEN %(upn)s
        WHEN (
            SELECT count(*) FROM (
                SELECT 1 FROM usage_refusedcall
                WHERE organisation_id = %(org)s AND day = %(day)s AND user_id IS NULL
                LIMIT %(cap)s
            ) known
        ) < %(cap)s THEN %(upn)s
        ELSE %(other)s
    END AS upn
)
INSERT INTO usage_refusedcall
    (organisation_id, day, upn, user_id, type, reason, count, first_at, last_at,
     to_number, to_country)
SELECT %(org)s, %(day)s, chosen.upn, (SELECT id FROM caller), %(type)s, %(reason)s, 1,
       %(now)s, %(now)s, %(to)s, %(country)s
FROM chosen
ON CONFLICT (organisation_id, day, upn, reason, type) DO UPDATE SET
    count = LEAST(usage_refusedcall.count + 1, 2147483647),
    last_at = GREATEST(usage_refusedcall.last_at, EXCLUDED.last_at),
    to_number = EXCLUDED.to_number,
    to_country = EXCLUDED.to_country,
    user_id = COALESCE(EXCLUDED.user_id, usage_refusedcall.user_id)
RETURNING {relaxed}
"""


def refusal_record(
    *,
    organisation_id: int,
    upn: str,
    call_type: str,
    to: str,
    reason: str,
    now: datetime | None = None,
) -> bool:
    """Count one refused authorization; False (logged) when it could not be recorded, which
    never changes the refusal itself."""
    now = now or timezone.now()
    # A non-geographic number (+882…) has no country: libphonenumber's "001" is not one.
    country = country_of(to) if to else ""
    params = {
        "org": organisation_id,
        "upn": upn.strip().lower()[:254],
        "day": now.astimezone(UTC).date(),
        "type": call_type[:20],
        "reason": reason[:40] or RefusalReason.UNKNOWN_USER,
        "now": now,
        "to": to[:20],
        "country": country if len(country) == 2 else "",
        "cap": UNKNOWN_PER_DAY,
        "other": OTHER_UNKNOWN,
    }
    # Inside a caller's transaction (a test, a management command) a savepoint keeps a failure
    # here from aborting the caller's work; on the call path it is one statement of its own.
    scope = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with scope, connection.cursor() as cursor:
            cursor.execute(_UPSERT_SQL.format(relaxed=relaxed_commit()), params)
    except Exception:  # the platform must get its answer; the count is only a report
        log.exception("Refused call of %s (%s) not recorded", params["upn"], reason)
        return False
    return True
