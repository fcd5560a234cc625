"""The lock that serialises the writers of an organisation's usage records.

Ingest, overage invoicing and the aggregates' rebuild each hold it for their transaction, so a
batch's duplicate check and its insert, an invoice's sum and its marking, and a rebuild's delete
and insert never interleave with one another. It is a transaction-scoped advisory lock, not the
credit account's row lock: every credit-funded authorization updates that row, and ingest takes
it only for its last step, the debits, so that calls being authorized wait for the debits of a
batch, not for its rating.

Lock order (with usage/services/holds.py): this lock, then holds, then pools, then the account.
"""

from __future__ import annotations

from django.db import connection

from credits_portal.models import Organisation

USAGE_LOCKS = 0x55534701  # the advisory locks' first key: an organisation's usage (the second)


def lock_usage_of(organisation: Organisation) -> None:
    """Wait for, then hold until the transaction ends, the organisation's usage lock."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [USAGE_LOCKS, organisation.pk])
