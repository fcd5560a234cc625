"""The people and the traffic of the demo organisations (seed_demo): generated, not stored, and the
same every time (fixed random seeds). Everything is written through the product's services."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from credits_portal.models import Organisation
from licensing.exceptions import AssignmentRefused, LicensingError
from licensing.models import DirectoryUser, Subscription
from licensing.services import licenses_apply_by_upn, seats_add, users_upsert
from licensing.validation import UserRow, clean_phone
from usage.services import rating
from usage.services.ingest import usage_ingest

FIRST = "Ana Ben Chloe Dae Emil Fatima Goro Hana Ivan Jin Kai Lena Mina Noah Olga Priya Quinn Rui"
FIRST_NAMES = [*FIRST.split(), "Sora", "Tom"]
LAST_NAMES = [
    "Kim",
    "Smith",
    "Muller",
    "Tanaka",
    "Park",
    "Jones",
    "Schmidt",
    "Sato",
    "Lee",
    "Brown",
]
PHONE_PREFIX = {
    "US": "+1425555",
    "GB": "+44207946",
    "DE": "+49301234",
    "JP": "+81312345",
    "KR": "+82212345",
}
ABROAD = {
    "US": "+442071838750",
    "GB": "+14255550142",
    "DE": "+33142685300",
    "JP": "+821012345678",
    "KR": "+81312345678",
}
LOCAL = {
    "US": "+12015550",
    "GB": "+441212345",
    "DE": "+4930123",
    "JP": "+81312345",
    "KR": "+8222123",
}
TOLL_FREE = {
    "US": "+18005550100",
    "GB": "+448001234567",
    "DE": "+498001234567",
    "JP": "+81120123456",
    "KR": "+82801234567",
}
BATCH = 1000  # usage_ingest's largest batch


@dataclass(frozen=True)
class Directory:
    """Who works at a demo organisation and what it licenses."""

    domain: str
    countries: list[str]
    users: int
    seats: list[tuple[str, int]]
    plans: list[set[str]]
    # The license that pays beyond the plans (legacy commerce: COMMS_CREDITS); new commerce
    # needs none, its overage is billed after use.
    payer: str | None = None


def _valid_phone(number: str) -> bool:
    try:
        clean_phone(number)
    except LicensingError:
        return False
    return True


def directory_seed(*, organisation: Organisation, directory: Directory) -> None:
    """Users across the directory's countries, seats, and a mix of plans assigned; users already
    licensed are left as they are, so a second run changes nothing."""
    rng = random.Random(2026)  # noqa: S311  (the same demo every time, not a secret)
    rows = []
    for n in range(directory.users):
        country = directory.countries[n % len(directory.countries)]
        given = FIRST_NAMES[n % len(FIRST_NAMES)]
        family = LAST_NAMES[(n // len(FIRST_NAMES)) % len(LAST_NAMES)]
        phone = f"{PHONE_PREFIX[country]}{n:04d}"
        rows.append(
            UserRow(
                upn=f"{given}.{family}{n}@{directory.domain}".lower(),
                display_name=f"{given} {family}",
                usage_location=country,
                phone_number=phone if _valid_phone(phone) else "",
            )
        )
    users_upsert(organisation=organisation, rows=rows)
    for sku, seats in directory.seats:
        current = Subscription.objects.filter(organisation=organisation, product__sku=sku).first()
        if current is None or current.seats < seats:
            seats_add(
                organisation=organisation,
                sku=sku,
                count=seats - (current.seats if current else 0),
            )
    users = DirectoryUser.objects.filter(organisation=organisation).order_by("upn")
    held = {u.upn for u in users.filter(assignments__isnull=False)}
    plans = directory.plans
    assign = [(u.upn, set(rng.choice(plans)), set()) for u in users if u.upn not in held]
    for start in range(0, len(assign), 50):
        try:
            licenses_apply_by_upn(
                organisation=organisation,
                rows=assign[start : start + 50],
                actor="seed_demo",
                source="command",
            )
        except AssignmentRefused:
            continue  # out of seats for this batch: the demo shows some users unlicensed


def usage_records(
    *, organisation: Organisation, directory: Directory, count: int, days: int = 90
) -> list[dict]:
    """`count` calls and messages of every type over the last `days` days, oldest first, by the
    users whose licenses allow them."""
    rng = random.Random(90)  # noqa: S311  (a repeatable demo)
    everyone = list(DirectoryUser.objects.filter(organisation=organisation))
    held = rating.licenses_of(everyone)
    users = {u.pk: u for u in everyone}
    paying = {directory.payer} if directory.payer else set()

    def pick(*needs: str) -> list[DirectoryUser]:
        wanted = set(needs) | paying
        return [users[pk] for pk, skus in held.items() if wanted <= skus]

    planned = [
        users[pk]
        for pk, skus in held.items()
        if "PHONE_SYSTEM" in skus and skus & {"CALLING_DOMESTIC", "CALLING_INTL"}
    ]
    callers, hosts = pick("PHONE_SYSTEM"), pick("AUDIO_CONF")
    start = timezone.now() - timedelta(days=days)
    moments = sorted(start + timedelta(seconds=rng.randrange(days * 86400)) for _ in range(count))
    records = []
    for n, moment in enumerate(moments):
        roll = rng.random()
        if roll < 0.45 and planned:
            user = rng.choice(planned)
            kind, call_type = "call", "outbound"
            to = f"{LOCAL[user.usage_location.code]}{rng.randrange(1000):03d}"
        elif roll < 0.6 and callers:
            user = rng.choice(callers)
            kind, call_type, to = "call", "outbound", ABROAD[user.usage_location.code]
        elif roll < 0.72 and hosts:
            user = rng.choice(hosts)
            kind, call_type = "call", "conference_dial_out"
            to = f"{LOCAL[user.usage_location.code]}{rng.randrange(1000):03d}"
        elif roll < 0.82 and hosts:
            user = rng.choice(hosts)
            kind, call_type, to = "call", "toll_free_dial_in", TOLL_FREE[user.usage_location.code]
        elif callers:
            user = rng.choice(callers)
            kind, call_type, to = "sms", "sms", ABROAD[user.usage_location.code]
        else:
            continue
        record = {
            "id": f"demo-{n:06d}",
            "kind": kind,
            "type": call_type,
            "user": user.upn,
            "from": user.phone_number,
            "to": to,
            "started_at": moment.isoformat().replace("+00:00", "Z"),
        }
        if kind == "call":
            record["duration_seconds"] = int(rng.lognormvariate(5.2, 0.9))
        records.append(record)
    return records


def usage_seed(
    *,
    organisation: Organisation,
    records: list[dict],
    before_batch: Callable[[int, datetime], None] | None = None,
    days: int = 90,
) -> None:
    """Ingest `records` in batches through the ingest service; `before_batch(n, first_moment)`
    runs before each (the legacy demo buys funds there, as its admins did)."""
    for number, start in enumerate(range(0, len(records), BATCH)):
        batch = records[start : start + BATCH]
        if before_batch is not None:
            first = datetime.fromisoformat(batch[0]["started_at"].replace("Z", "+00:00"))
            before_batch(number, first)
        # Older than the platform may report (USAGE_MAX_AGE_DAYS): the operator's seed only.
        usage_ingest(organisation=organisation, records=batch, max_age=timedelta(days=days + 1))
