"""`verify_ledger`: the invariants of DESIGN.md "The ledger", checked in SQL over whole accounts."""

from __future__ import annotations

from django.db import connection

from credits_portal.models import Organisation

# Each query returns (organisation slug, description) for every violation it finds.
CHECKS: list[tuple[str, str]] = [
    (
        "balance is the sum of the ledger",
        """
        SELECT o.slug, 'balance ' || a.balance || ' but the ledger sums to ' || COALESCE(s.total, 0)
        FROM billing_creditaccount a JOIN credits_portal_organisation o ON o.id = a.organisation_id
        LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM billing_ledgerentry GROUP BY 1) s
            ON s.account_id = a.id
        WHERE a.balance <> COALESCE(s.total, 0) {account_filter}
        """,
    ),
    (
        "debt is what lotless entries owe",
        """
        SELECT o.slug, 'debt ' || a.debt || ' but lotless entries owe ' || COALESCE(-s.total, 0)
        FROM billing_creditaccount a JOIN credits_portal_organisation o ON o.id = a.organisation_id
        LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM billing_ledgerentry
                   WHERE lot_id IS NULL GROUP BY 1) s ON s.account_id = a.id
        WHERE a.debt <> COALESCE(-s.total, 0) {account_filter}
        """,
    ),
    (
        "balance is what the lots hold less the debt",
        """
        SELECT o.slug, 'balance ' || a.balance || ' but lots hold ' || COALESCE(s.total, 0)
               || ' and debt is ' || a.debt
        FROM billing_creditaccount a JOIN credits_portal_organisation o ON o.id = a.organisation_id
        LEFT JOIN (SELECT account_id, SUM(remaining) AS total FROM billing_fundlot
                   WHERE expired_at IS NULL GROUP BY 1) s ON s.account_id = a.id
        WHERE a.balance <> COALESCE(s.total, 0) - a.debt {account_filter}
        """,
    ),
    (
        "a lot's remaining is the sum of its entries, funded once by its amount",
        """
        SELECT o.slug, 'lot ' || l.code || ' remaining ' || l.remaining
               || ' but its entries sum to '
               || COALESCE(s.total, 0) || ' and add ' || COALESCE(s.added, 0) || ' of ' || l.amount
        FROM billing_fundlot l JOIN billing_creditaccount a ON a.id = l.account_id
        JOIN credits_portal_organisation o ON o.id = a.organisation_id
        LEFT JOIN (SELECT lot_id, SUM(amount) AS total,
                          SUM(amount) FILTER (WHERE kind IN ('purchase', 'recharge', 'adjustment')
                                              AND amount > 0) AS added
                   FROM billing_ledgerentry WHERE lot_id IS NOT NULL GROUP BY 1) s
            ON s.lot_id = l.id
        WHERE (l.remaining <> COALESCE(s.total, 0) OR l.amount <> COALESCE(s.added, 0))
              {account_filter}
        """,
    ),
    (
        "an expired lot is empty, emptied by one expiry entry at most",
        """
        SELECT o.slug, 'expired lot ' || l.code || ' has ' || COUNT(e.id) || ' expiry entries'
        FROM billing_fundlot l JOIN billing_creditaccount a ON a.id = l.account_id
        JOIN credits_portal_organisation o ON o.id = a.organisation_id
        LEFT JOIN billing_ledgerentry e ON e.lot_id = l.id AND e.kind = 'expiry'
        WHERE (l.expired_at IS NOT NULL OR e.id IS NOT NULL) {account_filter}
        GROUP BY o.slug, l.code, l.expired_at
        HAVING COUNT(e.id) > 1 OR (l.expired_at IS NULL AND COUNT(e.id) > 0)
        """,
    ),
    (
        "first in, first out: no draw on a younger lot while an older one still holds funds",
        """
        SELECT o.slug, 'entry ' || e.id || ' drew lot ' || young.code || ' while older lot '
               || old.code || ' held ' || old.remaining
        FROM billing_fundlot old
        JOIN billing_creditaccount a ON a.id = old.account_id
        JOIN credits_portal_organisation o ON o.id = a.organisation_id
        JOIN billing_fundlot young ON young.account_id = old.account_id
             AND (young.purchased_at, young.id) > (old.purchased_at, old.id)
        JOIN billing_ledgerentry e ON e.lot_id = young.id AND e.amount < 0 AND e.kind <> 'expiry'
        WHERE old.remaining > 0 AND old.expired_at IS NULL
              AND e.id > (SELECT MIN(f.id) FROM billing_ledgerentry f WHERE f.lot_id = old.id)
              {account_filter}
        """,
    ),
    (
        "balance_after runs as the sum of the entries before it",
        """
        SELECT o.slug, 'entry ' || r.id || ' says balance ' || r.balance_after || ' but the sum is '
               || r.running
        FROM (SELECT e.id, e.account_id, e.balance_after,
                     SUM(e.amount) OVER (PARTITION BY e.account_id ORDER BY e.id) AS running
              FROM billing_ledgerentry e) r
        JOIN billing_creditaccount a ON a.id = r.account_id
        JOIN credits_portal_organisation o ON o.id = a.organisation_id
        WHERE r.balance_after <> r.running {account_filter}
        """,
    ),
    (
        "reserved is what open reservations hold",
        """
        SELECT o.slug, 'reserved ' || a.reserved || ' but open reservations hold ' || COALESCE(s.total, 0)
        FROM billing_creditaccount a JOIN credits_portal_organisation o ON o.id = a.organisation_id
        LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM billing_reservation
                   WHERE status = 'open' GROUP BY 1) s ON s.account_id = a.id
        WHERE a.reserved <> COALESCE(s.total, 0) {account_filter}
        """,
    ),
    (
        "invoices are numbered 1, 2, 3… without gaps",
        """
        SELECT o.slug, 'invoices ' || COUNT(i.id)
               || ', highest number ' || COALESCE(MAX(i.number), 0)
               || ', next number ' || a.next_invoice_number
        FROM billing_creditaccount a JOIN credits_portal_organisation o ON o.id = a.organisation_id
        LEFT JOIN billing_invoice i ON i.account_id = a.id
        WHERE TRUE {account_filter}
        GROUP BY o.slug, a.next_invoice_number
        HAVING COUNT(i.id) <> COALESCE(MAX(i.number), 0) OR a.next_invoice_number <> COUNT(i.id) + 1
        """,
    ),
]


def register_check(rule: str, sql: str) -> None:
    """Another app's invariant, checked with the ledger's (billing imports no other app: the app
    registers its checks when it is ready). `sql` returns (organisation slug, description) and
    places `{organisation_filter}` where the organisation `o` is narrowed to one."""
    if (rule, sql) not in CHECKS:
        CHECKS.append((rule, sql))


def ledger_verify(organisation: Organisation | None = None) -> list[str]:
    """Every violation of the ledger invariants, as `slug: what is wrong`; empty when all hold."""
    filters = {
        "account_filter": "AND a.organisation_id = %(org)s" if organisation else "",
        "organisation_filter": "AND o.id = %(org)s" if organisation else "",
    }
    violations: list[str] = []
    with connection.cursor() as cursor:
        for rule, sql in CHECKS:
            cursor.execute(sql.format(**filters), {"org": getattr(organisation, "pk", None)})
            violations += [f"{slug}: {rule}: {detail}" for slug, detail in cursor.fetchall()]
    return violations
