"""Licensing operations: seats, directory users, assigning licenses (one service, every door).

`license_change` is the only writer of assignments. It locks the users it changes and then the
subscriptions it touches, both in primary-key order, checks every prerequisite on the final set
of each user and every seat count, and applies all of it or none; the `seats_not_oversold`
constraint backs the seat check in the database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Min, Q, Sum
from django.utils import timezone
from moneyed import get_currency

from credits_portal.models import Organisation
from credits_portal.versions import version_changed, version_of
from licensing.exceptions import AssignmentRefused, LicensingError
from licensing.models import (
    Assignment,
    AssignmentEvent,
    CsvUpload,
    DirectoryUser,
    MinuteAllotment,
    Product,
    ProductPrice,
    SeatChange,
    Subscription,
)
from licensing.validation import UserRow, parse_licenses_csv, parse_users_csv

MAX_SEATS = 1_000_000


def licensing_version(organisation_id: int, *, max_age: float = 0) -> str:
    """Changes whenever the organisation's licenses or users change: a key for derived caches
    (see `version_of` for `max_age`)."""
    return version_of(f"licensing-version:{organisation_id}", max_age=max_age)


def licensing_changed(organisation_id: int) -> None:
    version_changed(f"licensing-version:{organisation_id}")


def catalogue() -> dict[str, Product]:
    products = Product.objects.prefetch_related("includes", "requires_any")
    return {p.sku: p for p in products}


def effective_skus(skus: set[str], products: dict[str, Product]) -> set[str]:
    """What holding `skus` amounts to: bundles count as the licenses they include."""
    held = set(skus)
    for sku in skus:
        held |= {p.sku for p in products[sku].includes.all()}
    return held


def missing_prerequisites(skus: set[str], products: dict[str, Product]) -> dict[str, list[Product]]:
    """For each held license whose prerequisites are not met: the licenses any of which it needs."""
    held = effective_skus(skus, products)
    missing = {}
    for sku in sorted(skus):
        needs = list(products[sku].requires_any.all())
        if needs and not held & {p.sku for p in needs}:
            missing[sku] = needs
    return missing


def allotment_applies(
    allotment: MinuteAllotment, country: str, pool_allotments: list[MinuteAllotment]
) -> bool:
    """Whether `allotment` adds minutes for a user of `country`: one that names countries applies
    to those; one that names none applies to every country the license's other allotments of the
    same pool do not name (`pool_allotments`: the catalogue's allotments of that pool)."""
    if allotment.countries:
        return allotment.applies_to(country)
    return not any(
        a.applies_to(country)
        for a in pool_allotments
        if a.product_id == allotment.product_id and a.pool == allotment.pool and a.countries
    )


def _names(products: list[Product]) -> str:
    return " or ".join(p.name for p in products)


def month_start(at: datetime) -> datetime:
    """The first instant of `at`'s calendar month in UTC (seats renew then)."""
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def renews_at(now: datetime | None = None) -> datetime:
    """When every subscription next renews: the first instant of the next month (UTC)."""
    start = month_start(now or timezone.now())
    return (start + timedelta(days=32)).replace(day=1)


def seat_price(*, product: Product, currency: str) -> Decimal | None:
    """A seat's monthly price in `currency` from the catalogue; None when it has none."""
    price = ProductPrice.objects.filter(product=product, currency=str(currency)).first()
    return None if price is None else price.per_seat_month


def seat_prices(currency: str) -> dict[int, Decimal]:
    """Every license's seat price per month in `currency`, by product id."""
    return dict(
        ProductPrice.objects.filter(currency=str(currency)).values_list(
            "product_id", "per_seat_month"
        )
    )


def price_text(amount: Decimal | None, currency: str) -> str | None:
    """`"8.00"`: a price at its currency's minor unit, as the API writes money."""
    if amount is None:
        return None
    sub_unit = get_currency(str(currency)).sub_unit or 1
    return str(amount.quantize(Decimal(1).scaleb(-(len(str(sub_unit)) - 1))))


def seat_count(value: object, *, field: str = "count") -> int:
    """A seat count from a form, a command or JSON: a whole number from 1 to MAX_SEATS."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip()) if len(value.strip()) <= 9 else MAX_SEATS + 1
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SEATS:
        raise LicensingError(
            f"The seat count must be a whole number from 1 to {MAX_SEATS:,}.", field=field
        )
    return value


def product_for(sku: str) -> Product:
    products = catalogue()
    if sku not in products:
        raise LicensingError(f"Unknown license {sku!r}; one of {', '.join(products)}.", field="sku")
    return products[sku]


def seats_add(
    *,
    organisation: Organisation,
    sku: str,
    count: int,
    reference: str | None = None,
    invoice: str = "",
    actor: str = "",
) -> Subscription:
    """`count` more seats, at once; once per `reference` (a repeat returns the subscription)."""
    product = product_for(sku)
    count = seat_count(count)
    reference = reference or f"seats:{uuid.uuid4()}"
    with transaction.atomic():
        subscription, _ = Subscription.objects.select_for_update().get_or_create(
            organisation=organisation, product=product
        )
        if not subscription.changes.filter(reference=reference).exists():
            subscription.seats = F("seats") + count
            subscription.save(update_fields=["seats"])
            SeatChange.objects.create(
                subscription=subscription,
                kind=SeatChange.Kind.ADDED,
                count=count,
                reference=reference,
                invoice=invoice[:60],
                actor=actor,
            )
            licensing_changed(organisation.pk)
    subscription.refresh_from_db()
    return subscription


def seats_release(
    *, subscription: Subscription, count: int, reference: str, actor: str = ""
) -> Subscription:
    """Release `count` unassigned seats from the next renewal: paid until then, no longer
    assignable. Refused (a conflict) for more than the unassigned seats; once per `reference`."""
    count = seat_count(count)
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if not locked.changes.filter(reference=reference).exists():
            if count > locked.available:
                raise LicensingError(
                    f"Only {locked.available} {locked.product.name} seats are unassigned "
                    f"({locked.assigned} of {locked.seats} assigned"
                    + (f", {locked.releasing} already released" if locked.releasing else "")
                    + "); remove licenses from users before releasing their seats.",
                    field="release",
                    conflict=True,
                )
            locked.releasing = F("releasing") + count
            locked.save(update_fields=["releasing"])
            SeatChange.objects.create(
                subscription=locked,
                kind=SeatChange.Kind.RELEASE,
                count=count,
                reference=reference,
                actor=actor,
            )
            licensing_changed(locked.organisation_id)
    locked.refresh_from_db()
    return locked


def subscription_renew(
    *, subscription: Subscription, month: date, invoice: str = "", releasing: int | None = None
) -> bool:
    """Renew for `month`: released seats leave, the rest stay. Once per subscription and month;
    False when it was already renewed. `releasing`: the released seats the renewal's invoice left
    out; seats released after it was computed leave at the next renewal (they were billed)."""
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if locked.changes.filter(kind=SeatChange.Kind.RENEWED, month=month).exists():
            return False
        gone = locked.releasing if releasing is None else min(releasing, locked.releasing)
        seats = locked.seats - gone
        Subscription.objects.filter(pk=locked.pk).update(
            seats=seats, releasing=locked.releasing - gone
        )
        SeatChange.objects.create(
            subscription=locked,
            kind=SeatChange.Kind.RENEWED,
            count=seats,
            month=month,
            reference=f"renewal:{month:%Y-%m}",
            invoice=invoice[:60],
        )
        licensing_changed(locked.organisation_id)
    return True


def subscriptions_due_renewal(month: date):
    """Subscriptions with seats not yet renewed for `month`, except those first bought during it
    (their purchase already paid the rest of the month)."""
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    renewed = SeatChange.objects.filter(kind=SeatChange.Kind.RENEWED, month=month).values(
        "subscription"
    )
    return (
        Subscription.objects.filter(seats__gt=0)
        .exclude(pk__in=renewed)
        .annotate(first_change=Min("changes__at"))
        .filter(Q(first_change__isnull=True) | Q(first_change__lt=start))
        .select_related("organisation", "product")
        .order_by("pk")
    )


def seats_added_since(*, subscription: Subscription, start: datetime) -> int:
    """Seats added at or after `start`: their purchase paid for the rest of that month."""
    return (
        subscription.changes.filter(kind=SeatChange.Kind.ADDED, at__gte=start).aggregate(
            total=Sum("count")
        )["total"]
        or 0
    )


@dataclass
class Change:
    user: DirectoryUser
    assign: set[str] = field(default_factory=set)
    remove: set[str] = field(default_factory=set)


def _check_skus(changes: list[Change], products: dict[str, Product]) -> None:
    unknown = sorted({s for c in changes for s in c.assign | c.remove} - set(products))
    if unknown:
        raise LicensingError(
            f"Unknown license {', '.join(unknown)}; one of {', '.join(products)}.", field="assign"
        )
    both = sorted({s for c in changes for s in c.assign & c.remove})
    if both:
        raise LicensingError(
            f"{', '.join(both)} cannot be both assigned and removed.", field="remove"
        )


def license_change(
    *,
    organisation: Organisation,
    changes: list[Change],
    actor: str,
    source: str,
    check_only: bool = False,
) -> dict[int, set[str]]:
    """Apply every change or none; the licenses each user holds afterwards, by user id.

    Refusals (no seats left, a prerequisite missing, a license another still needs) raise
    `AssignmentRefused` naming each user and reason. `check_only` stops before writing: the
    refusals a preview lists are the ones Apply would meet.
    """
    products = catalogue()
    _check_skus(changes, products)
    if any(c.user.organisation_id != organisation.pk for c in changes):
        raise LicensingError("A user of another organisation was named.", field="user")
    by_user = {c.user.pk: c for c in changes}
    with transaction.atomic():
        # Users first, then subscriptions, each in primary-key order: no deadlocks between doors.
        list(
            DirectoryUser.objects.select_for_update().filter(pk__in=sorted(by_user)).order_by("pk")
        )
        current: dict[int, set[str]] = {pk: set() for pk in by_user}
        for user_id, sku in Assignment.objects.filter(user_id__in=by_user).values_list(
            "user_id", "product__sku"
        ):
            current[user_id].add(sku)
        final: dict[int, set[str]] = {}
        delta: dict[str, int] = {}
        problems: dict[str, dict[str, list[str]]] = {}

        def refuse(upn: str, sku: str, message: str) -> None:
            problems.setdefault(upn, {}).setdefault(sku, []).append(message)

        for user_id, change in by_user.items():
            before = current[user_id]
            after = (before | change.assign) - change.remove
            final[user_id] = after
            for sku in after - before:
                delta[sku] = delta.get(sku, 0) + 1
            for sku in before - after:
                delta[sku] = delta.get(sku, 0) - 1
            for sku, needs in missing_prerequisites(after, products).items():
                need_skus = {p.sku for p in needs}
                # A removed license that gave the prerequisite, itself or through its bundle.
                removed = [
                    products[r]
                    for r in sorted(change.remove & before)
                    if effective_skus({r}, products) & need_skus
                ]
                if removed and sku in before:
                    message = f"{_names(removed)} cannot be removed: {products[sku].name} needs it."
                    for product in removed:
                        refuse(change.user.upn, product.sku, message)
                else:
                    refuse(change.user.upn, sku, f"{products[sku].name} needs {_names(needs)}.")
        subscriptions = {
            s.product.sku: s
            for s in Subscription.objects.select_for_update()
            .filter(organisation=organisation, product__sku__in=sorted(delta))
            .select_related("product")
            .order_by("pk")
        }
        for sku, change_count in delta.items():
            subscription = subscriptions.get(sku)
            # Seats released from the next renewal are not assignable meanwhile.
            seats, assigned = (
                (subscription.seats - subscription.releasing, subscription.assigned)
                if subscription
                else (0, 0)
            )
            if change_count > 0 and assigned + change_count > seats:
                for user_id, change in by_user.items():
                    if sku in final[user_id] - current[user_id]:
                        refuse(
                            change.user.upn,
                            sku,
                            f"No {products[sku].name} seats left ({assigned} of {seats} assigned;"
                            f" this needs {change_count}).",
                        )
        if problems:
            raise AssignmentRefused(problems)
        if check_only:
            return final
        _apply(organisation, by_user, current, final, products, subscriptions, delta, actor, source)
        licensing_changed(organisation.pk)
    return final


def _apply(organisation, by_user, current, final, products, subscriptions, delta, actor, source):
    added, events = [], []
    for user_id, change in by_user.items():
        gone = current[user_id] - final[user_id]
        if gone:
            Assignment.objects.filter(user_id=user_id, product__sku__in=gone).delete()
        for sku in sorted(final[user_id] - current[user_id]):
            added.append(Assignment(user=change.user, product=products[sku]))
        for action, skus in (
            (AssignmentEvent.Action.ASSIGNED, final[user_id] - current[user_id]),
            (AssignmentEvent.Action.REMOVED, gone),
        ):
            events += [
                AssignmentEvent(
                    organisation=organisation,
                    user=change.user,
                    product=products[sku],
                    action=action,
                    actor=actor,
                    source=source,
                )
                for sku in sorted(skus)
            ]
    Assignment.objects.bulk_create(added)
    AssignmentEvent.objects.bulk_create(events)
    for sku, change_count in delta.items():
        if change_count:
            Subscription.objects.filter(pk=subscriptions[sku].pk).update(
                assigned=F("assigned") + change_count
            )


def user_licenses(user: DirectoryUser) -> set[str]:
    return set(user.assignments.values_list("product__sku", flat=True))


def users_upsert(*, organisation: Organisation, rows: list[UserRow]) -> int:
    """Create or update directory users by UPN, set-based; rows were validated by the caller.

    A row without a phone number (None) keeps the number an existing user has.
    """
    with transaction.atomic():  # the version is renewed after these rows commit
        licensing_changed(organisation.pk)
        for with_phone in (True, False):
            group = [row for row in rows if (row.phone_number is not None) == with_phone]
            if not group:
                continue
            update = ["display_name", "usage_location", "updated_at"] + (
                ["phone_number"] if with_phone else []
            )
            DirectoryUser.objects.bulk_create(
                [
                    DirectoryUser(
                        organisation=organisation,
                        upn=row.upn,
                        display_name=row.display_name,
                        usage_location=row.usage_location,
                        phone_number=row.phone_number or "",
                    )
                    for row in group
                ],
                update_conflicts=True,
                unique_fields=["organisation", "upn"],
                update_fields=update,
                batch_size=2000,
            )
    return len(rows)


def licenses_apply_by_upn(
    *,
    organisation: Organisation,
    rows: list[tuple[str, set[str], set[str]]],
    actor: str,
    source: str,
    check_only: bool = False,
) -> dict[str, set[str]]:
    """Bulk assignment by UPN (CSV, command, selection): all or nothing; final licenses by UPN.
    With `check_only`, the same refusals and nothing written."""
    upns = [upn for upn, _assign, _remove in rows]
    users = {
        u.upn: u for u in DirectoryUser.objects.filter(organisation=organisation, upn__in=upns)
    }
    unknown = {
        upn: {"": ["No such user in this organisation."]} for upn in upns if upn not in users
    }
    if unknown:
        # The users that exist are checked too, so that one answer names every refusal.
        known = [Change(users[upn], set(a), set(r)) for upn, a, r in rows if upn in users]
        try:
            if known:
                license_change(
                    organisation=organisation,
                    changes=known,
                    actor=actor,
                    source=source,
                    check_only=True,
                )
        except AssignmentRefused as exc:
            raise AssignmentRefused({**unknown, **exc.by_sku}) from None
        raise AssignmentRefused(unknown)
    final = license_change(
        organisation=organisation,
        changes=[Change(users[upn], set(assign), set(remove)) for upn, assign, remove in rows],
        actor=actor,
        source=source,
        check_only=check_only,
    )
    return {users[upn].upn: final[users[upn].pk] for upn in upns}


@dataclass(frozen=True)
class BulkResult:
    """What a bulk change did: `changed` users got (or lost) the license, `unchanged` already
    had it (or did not have it)."""

    changed: int
    unchanged: int


def licenses_bulk_change(
    *,
    organisation: Organisation,
    users: list[DirectoryUser],
    sku: str,
    assign: bool,
    actor: str,
) -> BulkResult:
    """One license assigned to (or removed from) every selected user, all or nothing."""
    skus = {sku}
    pks = sorted({u.pk for u in users})
    with transaction.atomic():
        # The users are locked before they are counted (license_change locks them again, in
        # the same order), so the count is the change license_change makes.
        list(DirectoryUser.objects.select_for_update().filter(pk__in=pks).order_by("pk"))
        holding = Assignment.objects.filter(user_id__in=pks, product__sku=sku).count()
        licenses_apply_by_upn(
            organisation=organisation,
            rows=[(u.upn, skus if assign else set(), set() if assign else skus) for u in users],
            actor=actor,
            source="portal",
        )
    unchanged = holding if assign else len(pks) - holding
    return BulkResult(changed=len(pks) - unchanged, unchanged=unchanged)


def user_update(*, user: DirectoryUser, row: UserRow) -> dict[str, str]:
    """A directory user's display name, usage location and phone number from a checked row
    (its UPN is the user's key and stays); the values before, for the audit log."""
    with transaction.atomic():
        locked = DirectoryUser.objects.select_for_update().get(pk=user.pk)
        before = {
            "display_name": locked.display_name,
            "usage_location": locked.usage_location.code,
            "phone_number": locked.phone_number,
        }
        locked.display_name = row.display_name
        locked.usage_location = row.usage_location
        locked.phone_number = row.phone_number or ""
        locked.save(update_fields=["display_name", "usage_location", "phone_number", "updated_at"])
        # The usage location decides the minutes a user adds to the pools.
        licensing_changed(locked.organisation_id)
    return before


def csv_rows(*, kind: str, raw: bytes):
    """(rows, row errors) of an uploaded file; licenses are checked against the catalogue."""
    if kind == CsvUpload.Kind.USERS:
        return parse_users_csv(raw)
    return parse_licenses_csv(raw, skus=list(catalogue()))


def csv_upload_create(
    *, organisation: Organisation, kind: str, filename: str, raw: bytes, created_by
) -> CsvUpload:
    """Keep an uploaded file for its preview once it reads as UTF-8 CSV of this kind; row errors
    are the preview's to show, a file that cannot be read at all raises `LicensingError`."""
    csv_rows(kind=kind, raw=raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LicensingError("The file is not UTF-8 text.", field="file") from None
    return CsvUpload.objects.create(
        organisation=organisation,
        kind=kind,
        filename=filename[:200],
        content=text,
        created_by=created_by,
    )


def csv_upload_refusals(*, upload: CsvUpload, rows, actor: str) -> dict[str, list[str]]:
    """What applying these license rows would refuse (unknown users, seats, prerequisites)."""
    try:
        licenses_apply_by_upn(
            organisation=upload.organisation,
            rows=[(r.upn, r.assign, r.remove) for r in rows],
            actor=actor,
            source="csv",
            check_only=True,
        )
    except AssignmentRefused as exc:
        return exc.problems
    except LicensingError as exc:
        return {"": [exc.message]}
    return {}


def csv_upload_apply(*, upload: CsvUpload, rows, actor: str) -> int:
    """Write exactly these rows of the upload and mark it applied, all or none; the count."""
    with transaction.atomic():
        if upload.kind == CsvUpload.Kind.USERS:
            count = users_upsert(organisation=upload.organisation, rows=rows)
        else:
            count = len(
                licenses_apply_by_upn(
                    organisation=upload.organisation,
                    rows=[(r.upn, r.assign, r.remove) for r in rows],
                    actor=actor,
                    source="csv",
                )
            )
        upload.applied_at = timezone.now()
        upload.save(update_fields=["applied_at"])
    return count
