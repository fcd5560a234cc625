"""The data of bench/report.py: one large organisation and fifty small ones, made through the
product's services (organisations, users, licenses, rate card, admin, funds), then their usage
records written with COPY, rated by the product's own rules (`usage.services.rating`) and the
rate card, with a ledger entry drawing a lot for every credit-funded charge.

Imported by bench/report.py after django.setup(); every function is safe to run again: the
records are topped up to the size asked, never written twice.
"""

from __future__ import annotations

import io
import math
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from billing.models import CreditAccount, FundLot, LedgerEntry
from billing.services.ledger import account_for
from billing.services.purchases import funds_grant
from credits_portal import services
from credits_portal.models import Organisation
from credits_portal.permissions import Role
from licensing.exceptions import LicensingError
from licensing.models import DirectoryUser, Subscription
from licensing.services import licenses_apply_by_upn, seats_add, users_upsert
from licensing.validation import UserRow, clean_phone
from usage.models import CallType, FundedBy, PoolUsage, RefusalReason, RefusedCall, UsageRecord
from usage.services import rating
from usage.services.rates import rate_card_load

SLUG = "bench-report"
OTHERS = 50
OTHER_RECORDS = 1_000_000
USERS = 1000
OTHER_USERS = 20
DAYS = 90
ADMIN = "global@bench-report.example"
PASSWORD = "Bench-Report-2026"

# (country, calling code, outbound rate in 1/10,000 USD a minute, weight as a destination)
COUNTRIES = [
    ("US", "1", 190, 30), ("GB", "44", 230, 12), ("DE", "49", 250, 10), ("FR", "33", 240, 6),
    ("JP", "81", 600, 6), ("KR", "82", 450, 5), ("CA", "1", 190, 0), ("AU", "61", 380, 3),
    ("NL", "31", 260, 3), ("ES", "34", 270, 3), ("IT", "39", 280, 3), ("IN", "91", 420, 4),
    ("BR", "55", 520, 2), ("MX", "52", 410, 2), ("SE", "46", 250, 1), ("NO", "47", 260, 1),
    ("DK", "45", 250, 1), ("FI", "358", 300, 1), ("PL", "48", 310, 1), ("IE", "353", 240, 1),
    ("CH", "41", 330, 1), ("AT", "43", 300, 1), ("BE", "32", 270, 1), ("PT", "351", 280, 1),
    ("SG", "65", 350, 1), ("HK", "852", 330, 1), ("CN", "86", 480, 2), ("ZA", "27", 560, 1),
    ("AE", "971", 900, 1), ("IL", "972", 500, 1), ("TR", "90", 620, 1), ("AR", "54", 540, 1),
    ("CL", "56", 500, 1), ("CO", "57", 510, 1), ("NZ", "64", 400, 1), ("PH", "63", 800, 1),
    ("TH", "66", 640, 1), ("VN", "84", 700, 1), ("EG", "20", 980, 1), ("NG", "234", 1100, 1),
]  # fmt: skip
CODES = {code: cc for code, cc, _r, _w in COUNTRIES}
# Where the users are (usage location) and the numbers they call from.
HOMES = ["US", "US", "US", "GB", "GB", "DE", "FR", "JP", "KR", "AU", "NL", "IN", "CA"]
TYPE_FACTOR = {
    CallType.OUTBOUND: 10,
    CallType.CONFERENCE_DIAL_OUT: 12,
    CallType.TOLL_FREE_DIAL_IN: 18,
}
SMS_RATE = 300  # 0.0300 a message, 0.1000 for the catch-all
PLANS = [  # license sets of the large organisation's users, by share
    ({"E5", "CALLING_DOMESTIC", "COMMS_CREDITS"}, 30),
    ({"E5", "CALLING_INTL", "COMMS_CREDITS"}, 15),
    ({"PHONE_SYSTEM", "CALLING_DOMESTIC"}, 10),
    ({"PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS"}, 15),
    ({"AUDIO_CONF", "COMMS_CREDITS"}, 10),
    ({"PHONE_SYSTEM", "CALLING_PAYG", "COMMS_CREDITS"}, 15),
    ({"PHONE_SYSTEM", "CALLING_INTL"}, 5),
]
COPY_FIELDS = (
    "organisation_id", "record_id", "kind", "type", "user_id", "from_number", "to_number",
    "to_country", "from_country", "domestic", "started_at", "duration_seconds", "units",
    "plan_minutes", "pool_category", "rate_per_unit", "rate_prefix", "charge", "currency",
    "funded_by", "capability", "authorization_code", "conference_id", "created_at",
)  # fmt: skip
LEDGER_FIELDS = (
    "account_id", "kind", "amount", "lot_id", "balance_after", "reference", "seq",
    "description", "actor", "at",
)  # fmt: skip
CHUNK = 100_000


def rate_card_text() -> str:
    lines = ["prefix,type,rate_per_unit"]
    for _code, cc, rate, _w in COUNTRIES:
        if _code == "CA":
            continue  # shares +1 with the US
        for call_type, factor in TYPE_FACTOR.items():
            lines.append(f"{cc},{call_type},{rate * factor // 10 / 10000:.4f}")
        lines.append(f"{cc},sms,{SMS_RATE / 10000:.4f}")
    lines += [f"*,{t},{r}" for t, r in (("outbound", "0.2400"), ("sms", "0.1000"))]
    lines += ["*,conference_dial_out,0.2600", "*,toll_free_dial_in,0.3000"]
    return "\n".join(lines) + "\n"


def _phone(country: str, n: int) -> str:
    number = f"+{CODES[country]}{'4255' if country in ('US', 'CA') else '2079'}55{n:04d}"
    try:
        return clean_phone(number)
    except LicensingError:
        return ""


def _organisation(slug: str, name: str, commerce: str) -> Organisation:
    existing = Organisation.objects.filter(slug=slug).first()
    return existing or services.organisation_create(
        slug=slug, name=name, currency="USD", country="US", commerce=commerce
    )


def _users(organisation: Organisation, count: int, domain: str) -> None:
    if DirectoryUser.objects.filter(organisation=organisation).count() >= count:
        return
    rows = [
        UserRow(
            upn=f"user{n:04d}@{domain}",
            display_name=f"Bench User {n:04d}",
            usage_location=HOMES[n % len(HOMES)],
            phone_number=_phone(HOMES[n % len(HOMES)], n) or None,
        )
        for n in range(count)
    ]
    users_upsert(organisation=organisation, rows=rows)


def _licenses(organisation: Organisation, plans, users: list[DirectoryUser], rng) -> None:
    if Subscription.objects.filter(organisation=organisation).exists():
        return
    chosen = [(u.upn, set(rng.choices([p for p, _ in plans], [w for _, w in plans])[0]), set())
              for u in users]  # fmt: skip
    for sku in sorted({sku for _upn, skus, _r in chosen for sku in skus}):
        seats_add(organisation=organisation, sku=sku, count=len(users))
    for start in range(0, len(chosen), 200):
        licenses_apply_by_upn(
            organisation=organisation,
            rows=chosen[start : start + 200],
            actor="bench",
            source="bench",
        )


def setup() -> tuple[Organisation, list[Organisation]]:
    """The organisations, users, licenses, rate card and admin, through the product's services."""
    rng = random.Random(16)  # noqa: S311  (repeatable data, not a secret)
    rate_card_load(currency="USD", text=rate_card_text())
    target = _organisation(SLUG, "Bench Report Ltd", Organisation.Commerce.LEGACY)
    services.membership_grant(organisation=target, email=ADMIN, role=Role.GLOBAL, password=PASSWORD)
    _users(target, USERS, "bench-report.example")
    _licenses(target, PLANS, list(DirectoryUser.objects.filter(organisation=target)), rng)
    others = []
    for n in range(OTHERS):
        commerce = Organisation.Commerce.NEW if n % 5 == 0 else Organisation.Commerce.LEGACY
        other = _organisation(f"bench-other-{n:02d}", f"Bench Other {n:02d}", commerce)
        _users(other, OTHER_USERS, f"other{n:02d}.example")
        _licenses(other, PLANS, list(DirectoryUser.objects.filter(organisation=other)), rng)
        others.append(other)
    return target, others


class Rater:
    """Records of one organisation, rated as ingest would: the pool when a license covers the
    call (a share spills to what pays beyond the pool), credits or overage, the rate card's
    price rounded to the cent."""

    def __init__(self, organisation: Organisation, seed: int) -> None:
        self.organisation = organisation
        self.rng = random.Random(seed)  # noqa: S311
        self.rules = rating.rules_now()
        users = list(DirectoryUser.objects.filter(organisation=organisation))
        held = rating.licenses_of(users)
        self.users = []
        for user in users:
            skus = held[user.pk]
            country = user.usage_location.code
            self.users.append((user.pk, country, user.phone_number, skus))
        self.callers = {
            t: [u for u in self.users if not self.rules.license_refusal(t, u[3])]
            for t in TYPE_FACTOR
        }
        self.texters = [u for u in self.users if self.rules.after_pool(organisation, u[3])]
        self.destinations = [c for c, _cc, _r, w in COUNTRIES for _ in range(w)]
        self.rates = {c: r for c, _cc, r, _w in COUNTRIES}

    def record(self, seq: int, kind: str, start: float, now_text: str) -> tuple | None:
        rng = self.rng
        if kind == UsageRecord.Kind.SMS:
            call_type, pool = CallType.SMS, None
            user = rng.choice(self.texters) if self.texters else None
        else:
            roll = rng.random()
            call_type = (
                CallType.OUTBOUND
                if roll < 0.72
                else CallType.CONFERENCE_DIAL_OUT
                if roll < 0.88
                else CallType.TOLL_FREE_DIAL_IN
            )
            user = rng.choice(self.callers[call_type]) if self.callers[call_type] else None
        if user is None:
            return None
        pk, home, phone, skus = user
        to = home if call_type == CallType.TOLL_FREE_DIAL_IN or rng.random() < 0.55 else None
        to = to or rng.choice(self.destinations)
        cc = CODES[to]
        number = f"+{cc}{rng.randrange(10**8, 10**9)}"
        if call_type == CallType.TOLL_FREE_DIAL_IN:
            number = f"+{cc}800{rng.randrange(10**6, 10**7)}"
        duration = 0 if call_type == CallType.SMS else max(int(rng.lognormvariate(5.0, 0.9)), 1)
        units = rating.billed_units(kind, duration)
        pool = rating.category_of(call_type, home, to) if call_type != CallType.SMS else None
        rate = (
            SMS_RATE if call_type == CallType.SMS else self.rates[to] * TYPE_FACTOR[call_type] // 10
        )
        funded, plan, charge, capability, category = None, 0, 0, "", ""
        if self.rules.plan_covers(pool, skus) and rng.random() < 0.92:
            funded, plan, capability, category = (
                FundedBy.PLAN_MINUTES, units, self.rules.plan_license(pool, skus), pool
            )  # fmt: skip
        else:
            funded = self.rules.after_pool(self.organisation, skus)
            if funded is None:
                return None  # refused at authorization: no record
            charge = (units * rate + 50) // 100  # cents, half up
            capability = self.rules.credits_license(skus) if funded == FundedBy.CREDITS else ""
        started = datetime.fromtimestamp(start + rng.random() * DAYS * 86400, UTC)
        return (
            self.organisation.pk, f"bench-{kind}-{seq:08d}", kind, call_type, pk, phone, number,
            to, home, to == home, started.isoformat(), duration, units, plan, category,
            f"{rate / 10000:.4f}", cc, f"{charge // 100}.{charge % 100:02d}", "USD", funded,
            capability, "", "", now_text,
        )  # fmt: skip


def _copy(table: str, fields, rows: list[tuple]) -> None:
    """Text-format COPY (no value holds a tab, a newline or a backslash)."""
    sql = f"COPY {table} ({', '.join(fields)}) FROM STDIN"
    buffer = io.StringIO("".join("\t".join(map(str, r)) + "\n" for r in rows))
    with connection.cursor() as cursor:
        if hasattr(cursor, "copy_expert"):  # psycopg2
            cursor.copy_expert(sql, buffer)
        else:  # psycopg 3
            with cursor.copy(sql) as copy:
                copy.write(buffer.getvalue())


def _columns(model, fields) -> list[str]:
    return [model._meta.get_field(name).column for name in fields]


def _count(organisation: Organisation, kind: str) -> int:
    return UsageRecord.objects.filter(
        organisation=organisation, kind=kind, record_id__startswith=f"bench-{kind}-"
    ).count()


def _draw(organisation: Organisation, rows: list[tuple]) -> int:
    """A ledger entry for each credit-funded charge, drawn from the account's bench lot (a new
    one granted through the product when it runs low); the lot and the balance follow, under
    the account's row lock. The entries written."""
    spent = [
        (r[1], Decimal(r[17]), r[10]) for r in rows if r[19] == FundedBy.CREDITS and r[17] != "0.00"
    ]
    total = sum((s for _id, s, _at in spent), Decimal(0))
    if not spent:
        return 0
    account = account_for(organisation)
    with transaction.atomic():
        # The lock orders this with every other change of the account's money.
        account = CreditAccount.objects.select_for_update().get(pk=account.pk)
        lot = account.lots.filter(
            reference__startswith="bench-funds-", expired_at__isnull=True, remaining__gte=total
        ).first()
        if lot is None:
            lot = funds_grant(
                account=account,
                amount=max(total * 2, Decimal("1000000")),
                reference=f"bench-funds-{time.time_ns()}",
                purchased_at=timezone.now() - timedelta(days=DAYS + 5),
                actor="bench",
            )
            account.refresh_from_db()
        balance = account.balance
        entries = []
        for record_id, charge, at in spent:
            balance -= charge
            entries.append((account.pk, LedgerEntry.Kind.USAGE, -charge, lot.pk, balance,
                            UsageRecord.reference_for(record_id), 0, "", "", at))  # fmt: skip
        _copy(LedgerEntry._meta.db_table, _columns(LedgerEntry, LEDGER_FIELDS), entries)
        FundLot.objects.filter(pk=lot.pk).update(remaining=lot.remaining - total)
        CreditAccount.objects.filter(pk=account.pk).update(balance=balance)
    return len(entries)


def top_up(organisation: Organisation, kind: str, wanted: int, seed: int, ledger: bool) -> int:
    """Records of `kind` up to `wanted` over the last DAYS days, by COPY in chunks; returns the
    records written."""
    have = _count(organisation, kind)
    if have >= wanted:
        return 0
    rater = Rater(organisation, seed + have)
    start = (timezone.now() - timedelta(days=DAYS)).timestamp()
    now_text = timezone.now().isoformat()
    table = UsageRecord._meta.db_table
    columns = _columns(UsageRecord, COPY_FIELDS)
    seq, written = have, 0
    while seq < wanted:
        rows = []
        while len(rows) < min(CHUNK, wanted - seq):
            row = rater.record(seq + len(rows), kind, start, now_text)
            if row is not None:
                rows.append(row)
        with transaction.atomic():
            _copy(table, columns, rows)
            if ledger:
                _draw(organisation, rows)
        seq += len(rows)
        written += len(rows)
    return written


def pools_sync(organisation: Organisation) -> None:
    """PoolUsage.used equal to the plan minutes of the records, month by month."""
    table, records = PoolUsage._meta.db_table, UsageRecord._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (organisation_id, month, category, country, used, held)
            SELECT organisation_id, date_trunc('month', started_at AT TIME ZONE 'UTC')::date,
                   pool_category, CASE WHEN pool_category = 'domestic' THEN to_country ELSE '' END,
                   sum(plan_minutes), 0
            FROM {records} WHERE organisation_id = %s AND plan_minutes > 0
            GROUP BY 1, 2, 3, 4
            ON CONFLICT (organisation_id, month, category, country)
            DO UPDATE SET used = EXCLUDED.used
            """,  # noqa: S608  (table names from the models)
            [organisation.pk],
        )


def refusals(organisation: Organisation) -> int:
    """Refused calls of the organisation over DAYS days (rows as the product's upsert leaves
    them: one per day, caller, reason and type), written once; the rows written."""
    if RefusedCall.objects.filter(organisation=organisation).exists():
        return 0
    rng = random.Random(7)  # noqa: S311  (bench data)
    users = list(DirectoryUser.objects.filter(organisation=organisation).order_by("pk")[:200])
    reasons = [RefusalReason.NO_CREDITS_LICENSE, RefusalReason.INSUFFICIENT_BALANCE,
               RefusalReason.NO_LICENSE, RefusalReason.DESTINATION_NOT_RATED]  # fmt: skip
    today = timezone.now().date()
    rows = {}
    for days_ago in range(DAYS):
        day = today - timedelta(days=days_ago)
        for _ in range(rng.randint(10, 40)):
            user = rng.choice(users)
            key = (day, user.upn.lower(), rng.choice(reasons), CallType.OUTBOUND)
            at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(
                seconds=rng.randint(0, 86_399)
            )
            rows[key] = RefusedCall(
                organisation=organisation, day=day, upn=key[1], user=user, type=key[3],
                reason=key[2], count=rng.randint(1, 12), first_at=at, last_at=at,
                to_number=_phone("GB", rng.randint(0, 9999)), to_country="GB",
            )  # fmt: skip
    RefusedCall.objects.bulk_create(rows.values())
    return len(rows)


def generate(target: Organisation, others: list[Organisation], calls: int) -> dict[str, float]:
    """Top the data up to `calls` calls and calls/10 messages for the target, and the other
    organisations' OTHER_RECORDS; the seconds each part took."""
    took = {}
    started = time.perf_counter()
    written = top_up(target, UsageRecord.Kind.CALL, calls, 1, ledger=True)
    written += top_up(target, UsageRecord.Kind.SMS, calls // 10, 2, ledger=True)
    pools_sync(target)
    refusals(target)
    took[f"target: {written:,} records"] = time.perf_counter() - started
    started, written = time.perf_counter(), 0
    each = OTHER_RECORDS // len(others)
    for n, other in enumerate(others):
        written += top_up(other, UsageRecord.Kind.CALL, math.ceil(each * 0.9), 100 + n, ledger=True)
        written += top_up(other, UsageRecord.Kind.SMS, each // 10, 200 + n, ledger=True)
    if written:
        took[f"50 others: {written:,} records"] = time.perf_counter() - started
    return took
