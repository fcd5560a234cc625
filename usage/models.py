"""Usage: the rate card, minute pools, call authorizations and rated call and SMS records."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from djmoney.models.fields import CurrencyField

from credits_portal.models import Organisation
from licensing.models import DirectoryUser, Pool

RATE = {"max_digits": 12, "decimal_places": 4}
AMOUNT = {"max_digits": 18, "decimal_places": 4}


class CallType(models.TextChoices):
    OUTBOUND = "outbound", "Outbound"
    CONFERENCE_DIAL_OUT = "conference_dial_out", "Conference dial-out"
    TOLL_FREE_DIAL_IN = "toll_free_dial_in", "Toll-free dial-in"
    SMS = "sms", "SMS"


class FundedBy(models.TextChoices):
    PLAN_MINUTES = "plan_minutes", "Plan minutes"
    CREDITS = "credits", "Communications Credits"
    OVERAGE = "overage", "Overage (billed after use)"
    NONE = "none", "Not funded"


class Rate(models.Model):
    """Price per minute (per message for SMS) by destination prefix; the longest prefix wins.

    The prefix is the E.164 number's digits without "+"; an empty prefix is the catch-all.
    """

    currency = CurrencyField()
    prefix = models.CharField(max_length=15, blank=True)
    type = models.CharField(max_length=20, choices=CallType.choices)
    rate_per_unit = models.DecimalField(**RATE)
    description = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["currency", "type", "prefix"]
        constraints = [
            models.UniqueConstraint(
                fields=["currency", "type", "prefix"], name="one_rate_per_prefix"
            ),
            models.CheckConstraint(condition=Q(rate_per_unit__gte=0), name="rate_not_negative"),
            models.CheckConstraint(
                condition=Q(prefix__regex=r"^[0-9]*$"), name="rate_prefix_digits"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} +{self.prefix or '*'}: {self.rate_per_unit} {self.currency}"


class PoolUsage(models.Model):
    """Minutes used from one pool in one calendar month (UTC), and minutes held for authorized
    calls whose usage records have not come yet; sizes come from the licenses held.

    The pool invariant (DESIGN.md "Holds"): authorization holds minutes only while
    used + held + minutes <= size, in one conditional UPDATE of this row, so concurrent calls
    never promise more minutes than the pool has; `held` is always the sum of the row's open
    `MinuteHold`s (`verify_ledger` checks it). The size is not stored: it follows the licenses
    held now, so removing one can leave used + held above it until the month ends.
    """

    Category = Pool  # the catalogue's pools: one definition, in licensing

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text="The first day of the month.")
    category = models.CharField(max_length=20, choices=Category.choices)
    country = models.CharField(max_length=2, blank=True, help_text="Domestic pools only.")
    used = models.PositiveIntegerField(default=0)
    held = models.PositiveIntegerField(default=0, db_default=0, help_text="By open minute holds.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "month", "category", "country"], name="one_pool_per_month"
            ),
            models.CheckConstraint(condition=Q(held__gte=0), name="pool_held_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.organisation} {self.month:%Y-%m} {self.category} {self.country}: {self.used}"


class MinuteHold(models.Model):
    """Plan minutes one authorized call holds in one pool, until its usage record settles the
    hold (the minutes it used move from held to used) or the hold expires (the minute task
    releases it). Its code is the authorization id, as is the code of the call's credit
    reservation when credits fund the rest.

    A model of its own, not columns on billing's `Reservation`: billing knows money, not pools
    (DESIGN.md "Imports run one way"), and a call the pool funds alone holds no money at all.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        SETTLED = "settled", "Settled by its usage record"
        RELEASED = "released", "Released unused"

    code = models.CharField(max_length=40, unique=True)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    pool = models.ForeignKey(PoolUsage, on_delete=models.CASCADE, related_name="holds")
    minutes = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(minutes__gt=0), name="minute_hold_positive"),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(status="open"), name="minute_hold_open"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.minutes} min ({self.status})"


class UsageRecord(models.Model):
    """One call or message as the platform reported it, and how it was rated and funded."""

    class Kind(models.TextChoices):
        CALL = "call", "Call"
        SMS = "sms", "SMS"

    # Every index below leads with the organisation: its own index would only be written.
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    record_id = models.CharField(max_length=100, help_text="The platform's id: idempotency.")
    kind = models.CharField(max_length=4, choices=Kind.choices)
    type = models.CharField(max_length=20, choices=CallType.choices)
    user = models.ForeignKey(
        DirectoryUser,
        on_delete=models.PROTECT,
        related_name="usage",
        db_index=False,  # usage_org_user_time serves the user filters; users are never deleted
    )
    from_number = models.CharField(max_length=20, blank=True)
    to_number = models.CharField(max_length=20)
    to_country = models.CharField(max_length=2, blank=True)
    from_country = models.CharField(max_length=2, blank=True)
    domestic = models.BooleanField()
    started_at = models.DateTimeField()
    duration_seconds = models.PositiveIntegerField(default=0)
    units = models.PositiveIntegerField(help_text="Billed minutes (rounded up) or messages.")
    plan_minutes = models.PositiveIntegerField(default=0)
    pool_category = models.CharField(max_length=20, blank=True)
    rate_per_unit = models.DecimalField(**RATE)
    rate_prefix = models.CharField(max_length=15, blank=True)
    charge = models.DecimalField(**AMOUNT)
    currency = CurrencyField()
    funded_by = models.CharField(max_length=15, choices=FundedBy.choices)
    capability = models.CharField(max_length=40, blank=True, help_text="The license that paid.")
    authorization_code = models.CharField(max_length=40, blank=True)
    conference_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    overage_invoice = models.ForeignKey(
        "OverageInvoice",
        null=True,
        blank=True,
        db_index=False,  # usage_overage_invoice: only the few records that have one
        on_delete=models.PROTECT,
        related_name="records",
        help_text="The overage invoice that billed this record (overage only).",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "record_id"], name="usage_record_once"),
            models.CheckConstraint(condition=Q(charge__gte=0), name="usage_charge_not_negative"),
        ]
        # Every index here costs every ingested record (they were most of an insert's cost,
        # issue 16): each is read by a query, bench/usage_indexes.py shows which.
        indexes = [
            # The report's sorts, each ending in the id: a keyset page is one index range scan
            # from its cursor, ROW(key, id) < ROW(…), whichever page it is (credits_portal.keyset).
            # The time one also serves the records API (a range scan a kind, merged).
            models.Index(
                fields=["organisation", "kind", "started_at", "id"], name="usage_org_kind_time_id"
            ),
            models.Index(
                fields=["organisation", "kind", "charge", "id"], name="usage_org_kind_charge_id"
            ),
            models.Index(
                fields=["organisation", "kind", "duration_seconds", "id"],
                name="usage_org_kind_duration_id",
            ),
            models.Index(fields=["organisation", "user", "started_at"], name="usage_org_user_time"),
            # What the overage run looks for: only the records not yet billed, a few months at
            # most, not every record ever stored.
            models.Index(
                fields=["organisation", "started_at"],
                name="usage_overage_unbilled",
                condition=Q(funded_by="overage", overage_invoice__isnull=True, charge__gt=0),
            ),
            models.Index(
                fields=["overage_invoice"],
                name="usage_overage_invoice",
                condition=Q(overage_invoice__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.record_id} {self.type} {self.charge} {self.currency}"

    @staticmethod
    def reference_for(record_id: str) -> str:
        """The ledger reference of the record's debit (unique per account)."""
        return f"usage:{record_id}"

    @property
    def ledger_reference(self) -> str:
        return self.reference_for(self.record_id)


class DailyUsage(models.Model):
    """The records of one organisation summed per UTC day of `started_at` and per the dimensions
    the report filters on: what the report's totals and chart and the funding planner read
    instead of the records. Added to in the transaction that inserts the records
    (usage.services.aggregates), rebuilt from them by `rebuild_usage_aggregates`, and checked
    against them by `verify_ledger`. Not per user: that would be about as many rows as records
    (the report's user filter reads the records, through `usage_org_user_time`)."""

    # No index of its own: the unique constraint's index starts with the organisation.
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    day = models.DateField(help_text="The UTC day the calls and messages started.")
    kind = models.CharField(max_length=4, choices=UsageRecord.Kind.choices)
    type = models.CharField(max_length=20, choices=CallType.choices)
    funded_by = models.CharField(max_length=15, choices=FundedBy.choices)
    domestic = models.BooleanField()
    to_country = models.CharField(max_length=2, blank=True)
    count = models.PositiveIntegerField()
    units = models.PositiveBigIntegerField()
    plan_minutes = models.PositiveBigIntegerField()
    duration_seconds = models.PositiveBigIntegerField()
    charge = models.DecimalField(max_digits=22, decimal_places=4)

    class Meta:
        constraints = [
            # Its index serves every read: an organisation's days, then the dimensions.
            models.UniqueConstraint(
                fields=[
                    "organisation",
                    "day",
                    "kind",
                    "type",
                    "funded_by",
                    "domestic",
                    "to_country",
                ],
                name="daily_usage_once",
            ),
            models.CheckConstraint(condition=Q(count__gt=0), name="daily_usage_counts_records"),
            models.CheckConstraint(
                condition=Q(charge__gte=0), name="daily_usage_charge_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(plan_minutes__lte=models.F("units")),
                name="daily_usage_plan_within_units",
            ),
            models.CheckConstraint(
                condition=Q(kind="sms", type=CallType.SMS)
                | (Q(kind="call") & ~Q(type=CallType.SMS)),
                name="daily_usage_kind_of_type",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id} {self.day} {self.type} {self.funded_by}: {self.count}"


class OverageInvoice(models.Model):
    """An invoice of a new-commerce organisation's overage: the records not yet billed of the
    closed months (UTC), late ones of a month already invoiced included; each names it."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    period_start = models.DateField(help_text="The first day of the earliest month billed.")
    period_end = models.DateField(help_text="The last day of the latest month billed.")
    invoice = models.OneToOneField("billing.Invoice", on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(period_start__lte=models.F("period_end")),
                name="overage_period_in_order",
            )
        ]

    def __str__(self) -> str:
        return f"Overage {self.organisation} {self.period_start:%Y-%m} to {self.period_end:%Y-%m}"


class ReportPreference(models.Model):
    """An admin's choices on the usage report: the columns shown and the time zone of display."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    call_columns = models.JSONField(default=list, blank=True, help_text="Empty: every column.")
    sms_columns = models.JSONField(default=list, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    mask_sms_numbers = models.BooleanField(
        default=False, help_text="Show SMS recipients as +4477••••678."
    )

    def __str__(self) -> str:
        return f"Report preferences of {self.user}"


class ExportJob(models.Model):
    """A large export written by a worker, with its progress, then downloaded."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Writing"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "Excel"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=4, choices=UsageRecord.Kind.choices)
    format = models.CharField(max_length=4, choices=Format.choices)
    query = models.TextField(blank=True, help_text="The report's filters, as a query string.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    filename = models.CharField(max_length=200, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Export {self.code} ({self.status})"

    @property
    def percent(self) -> int:
        return (
            100
            if self.status == self.Status.DONE
            else int(100 * self.rows_done / max(self.rows_total, 1))
        )


class RefusalReason(models.TextChoices):
    """Why authorization refused a call (usage.services.authorize), as the platform is told."""

    UNKNOWN_USER = "unknown_user", "Unknown user"
    NO_LICENSE = "no_license", "No license for this kind of call"
    NO_CREDITS_LICENSE = "no_credits_license", "No plan minutes left and no Communications Credits"
    INSUFFICIENT_BALANCE = "insufficient_balance", "Communications Credits balance too low"
    DESTINATION_NOT_RATED = "destination_not_rated", "Destination not on the rate card"
    CAP_REACHED = "cap_reached", "A spend cap is reached"
    DESTINATION_BLOCKED = "destination_blocked", "Destination blocked by a toll-fraud guard"


class RefusedCall(models.Model):
    """Refused authorizations of one caller, reason and call type on one UTC day: how many, the
    first and the last, and the last number called (the vendor's "blocked users" report).

    One row per (organisation, day, UPN, reason, type), counted up by one upsert per refusal:
    a platform retrying a refused call thousands of times makes one row, not thousands. An
    unknown caller has no user row: the UPN the platform sent is kept (truncated), and past
    `usage.services.refusals.UNKNOWN_PER_DAY` distinct unknown UPNs a day they share one row.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(help_text="UTC.")
    upn = models.CharField(max_length=254, help_text="As the platform sent it (lower case).")
    user = models.ForeignKey(
        DirectoryUser, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    type = models.CharField(max_length=20, choices=CallType.choices)
    reason = models.CharField(max_length=40, choices=RefusalReason.choices)
    count = models.PositiveIntegerField(default=1)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    to_number = models.CharField(max_length=20, blank=True, help_text="The last number called.")
    to_country = models.CharField(max_length=2, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "day", "upn", "reason", "type"], name="refused_call_once"
            ),
            models.CheckConstraint(condition=Q(count__gte=1), name="refused_call_counted"),
        ]
        # No index on last_at: each refusal updates its row in place (a HOT update, no index
        # touched), which a storm of one refusal needs; the report reads a range of days through
        # the unique index and sorts what it finds (a bounded number of rows a day).

    def __str__(self) -> str:
        return f"{self.day} {self.upn} {self.reason} x{self.count}"


class PoolAlert(models.Model):
    """An email to the billing contacts that a pool reached a threshold of its minutes in a
    month: at most one per (pool, month, threshold), which the unique constraint decides even
    when concurrent batches reach it together."""

    class Threshold(models.IntegerChoices):
        EIGHTY = 80, "80 %"
        FULL = 100, "100 %"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text="The first day of the month.")
    category = models.CharField(max_length=20, choices=PoolUsage.Category.choices)
    country = models.CharField(max_length=2, blank=True, help_text="Domestic pools only.")
    threshold = models.PositiveSmallIntegerField(choices=Threshold.choices)
    used = models.PositiveIntegerField(help_text="Minutes used when it was reached.")
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "month", "category", "country", "threshold"],
                name="pool_alert_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation} {self.month:%Y-%m} {self.category} {self.country} {self.threshold}%"


class CapHold(models.Model):
    """What one authorized call of a capped caller may cost, counted against the spend caps
    (usage.services.caps) until its usage record comes (the record's charge counts instead) or
    it expires. Written under the account's row lock, as every capped authorization reads them,
    so concurrent calls never together pass a cap. Money is held by billing's `Reservation`;
    this is only the count: an overage call holds no money but counts against its caps."""

    code = models.CharField(max_length=40, unique=True, help_text="The authorization id.")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    user = models.ForeignKey(DirectoryUser, on_delete=models.CASCADE, related_name="+")
    amount = models.DecimalField(**AMOUNT)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="cap_hold_positive"),
        ]
        indexes = [
            # The open holds of an organisation (unexpired), and the sweep of the expired.
            models.Index(fields=["organisation", "expires_at"], name="cap_hold_org_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.amount} until {self.expires_at}"


class CapNotice(models.Model):
    """A spend cap's warning (75 %, 90 % of a user's monthly cap) or its being reached (100 %,
    any cap): at most one per (cap, period, threshold), which the unique constraint decides
    even when concurrent calls see it together. The email goes to the billing contacts."""

    class Scope(models.TextChoices):
        USER_DAILY = "user_daily", "User's daily cap"
        USER_MONTHLY = "user_monthly", "User's monthly cap"
        ORGANISATION_DAILY = "organisation_daily", "Organisation's daily cap"

    class Threshold(models.IntegerChoices):
        SEVENTY_FIVE = 75, "75 %"
        NINETY = 90, "90 %"
        REACHED = 100, "Reached"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=20, choices=Scope.choices)
    upn = models.CharField(max_length=254, blank=True, help_text="Empty: the organisation's.")
    period = models.DateField(help_text="The UTC day, or the first day of the month.")
    threshold = models.PositiveSmallIntegerField(choices=Threshold.choices)
    cap = models.DecimalField(**AMOUNT)
    spent = models.DecimalField(**AMOUNT)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "scope", "upn", "period", "threshold"],
                name="cap_notice_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation} {self.scope} {self.upn} {self.period} {self.threshold}%"


# Bounds of the toll-fraud guards, checked by usage.services.fraud_guards and by the table itself.
GUARD_MAX_RATE = 10_000  # a rate per minute at least this high is no rate a person means
GUARD_MAX_BLOCKED = 500  # blocked prefixes and countries of one organisation
GUARD_SECONDS = (60, 86_400)  # a call's longest allowed length, from one minute to a day


class FraudGuard(models.Model):
    """An organisation's toll-fraud guards, which authorization applies to every call: a rate
    per minute no call may cost more than, destinations (E.164 prefixes such as "+882", or ISO
    countries such as "CU") no call may reach, and a longest call per call type. Null: no limit
    of that kind (the platform's AUTHORIZATION_MAX_SECONDS still bounds every call). Emergency
    numbers pass every guard (usage.services.fraud_guards)."""

    organisation = models.OneToOneField(Organisation, on_delete=models.CASCADE, related_name="+")
    max_rate_per_minute = models.DecimalField(
        **RATE, null=True, blank=True, help_text="In the organisation's currency."
    )
    blocked_prefixes = ArrayField(
        models.CharField(max_length=16),
        default=list,
        blank=True,
        help_text='E.164 prefixes ("+882") and ISO countries ("CU").',
    )
    max_seconds_outbound = models.PositiveIntegerField(null=True, blank=True)
    max_seconds_conference_dial_out = models.PositiveIntegerField(null=True, blank=True)
    max_seconds_toll_free_dial_in = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_rate_per_minute__gte=0, max_rate_per_minute__lt=GUARD_MAX_RATE)
                | Q(max_rate_per_minute__isnull=True),
                name="fraud_guard_rate_bounds",
            ),
            models.CheckConstraint(
                condition=Q(blocked_prefixes__len__lte=GUARD_MAX_BLOCKED),
                name="fraud_guard_blocked_bounds",
            ),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{field}__range": GUARD_SECONDS})
                    | Q(**{f"{field}__isnull": True}),
                    name=f"fraud_guard_{field}_bounds",
                )
                for field in (
                    "max_seconds_outbound",
                    "max_seconds_conference_dial_out",
                    "max_seconds_toll_free_dial_in",
                )
            ),
        ]

    def __str__(self) -> str:
        return f"Fraud guards of {self.organisation}"
