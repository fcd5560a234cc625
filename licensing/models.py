"""Licensing: the catalogue, seats bought per organisation, directory users and their licenses."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_countries.fields import CountryField
from djmoney.models.fields import CurrencyField

from credits_portal.models import Organisation


class Pool(models.TextChoices):
    """The minute pools a license can add to (usage counts them per month in PoolUsage)."""

    DOMESTIC = "domestic", "Domestic calling"
    INTERNATIONAL = "international", "International calling"
    CONFERENCE = "conference_dial_out", "Conference dial-out"


class Product(models.Model):
    """A license in the catalogue (operators edit it in Django admin)."""

    sku = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    includes = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="included_in",
        help_text="A bundle counts as holding these too (E5: Audio Conferencing, Phone System).",
    )
    requires_any = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="required_by",
        help_text="Assignable only with at least one of these, held directly or through a bundle.",
    )
    # What a license does for calls (held directly or through a bundle), read by rating.
    makes_pstn_calls = models.BooleanField(
        default=False, help_text="Holders may call phone numbers (Phone System)."
    )
    makes_conference_calls = models.BooleanField(
        default=False,
        help_text="Holders may dial out of and into meetings (Audio Conferencing).",
    )
    pays_from_credits = models.BooleanField(
        default=False,
        help_text="Holders' calls beyond the minute pools are paid from credits, in legacy "
        "commerce (Communications Credits).",
    )
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "sku"]

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        """The license as admins read it in texts: its name, the SKU as a secondary label."""
        return f"{self.name} ({self.sku})"


class MinuteAllotment(models.Model):
    """Minutes each licensed user adds to the organisation's pools every calendar month."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="allotments")
    pool = models.CharField(max_length=20, choices=Pool.choices)
    minutes = models.PositiveIntegerField()
    countries = models.CharField(
        max_length=200,
        blank=True,
        help_text="Usage locations this applies to, comma-separated (US,CA,PR); empty: all others.",
    )

    class Meta:
        ordering = ["product", "pool", "-countries"]

    def __str__(self) -> str:
        where = self.countries or "elsewhere"
        return f"{self.product.sku}: {self.minutes} {self.pool} minutes ({where})"

    def applies_to(self, country: str) -> bool:
        return country in [c.strip() for c in self.countries.split(",") if c.strip()]


class ProductPrice(models.Model):
    """What one seat of a license costs per month in one currency (operators edit it in admin)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="prices")
    currency = CurrencyField()
    per_seat_month = models.DecimalField(max_digits=12, decimal_places=4)

    class Meta:
        ordering = ["product", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["product", "currency"], name="one_price_per_currency"),
            models.CheckConstraint(condition=Q(per_seat_month__gte=0), name="price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.product.sku}: {self.per_seat_month} {self.currency} per seat and month"


class Subscription(models.Model):
    """Seats of one license bought by an organisation; `assigned` is kept with every change."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="subscriptions"
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="subscriptions")
    seats = models.PositiveIntegerField(default=0)
    assigned = models.PositiveIntegerField(default=0, editable=False)
    # Seats released by the admin: still paid until the next renewal, which removes them; no
    # longer assignable meanwhile.
    releasing = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["product__sort_order"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "product"], name="one_subscription_per_sku"
            ),
            # Seats can never be oversold, whatever the concurrency.
            models.CheckConstraint(
                condition=Q(assigned__lte=F("seats")), name="seats_not_oversold"
            ),
            # Released seats are never assigned: they leave at the next renewal.
            models.CheckConstraint(
                condition=Q(releasing__lte=F("seats") - F("assigned")),
                name="released_seats_unassigned",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation} · {self.product.sku} · {self.assigned}/{self.seats}"

    @property
    def available(self) -> int:
        return self.seats - self.assigned - self.releasing


class SeatChange(models.Model):
    """Each change to a subscription's seats, once per cause: a purchase, a release, a renewal.

    `reference` is the cause (an Idempotency-Key, a form token, a renewal month): the same cause
    twice changes nothing the second time. `invoice` names billing's invoice by its number
    (licensing does not reach into billing).
    """

    class Kind(models.TextChoices):
        ADDED = "added", "Seats added"
        RELEASE = "release", "Seats released from the next renewal"
        RENEWED = "renewed", "Renewed for the month"

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="changes")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    count = models.PositiveIntegerField()
    reference = models.CharField(max_length=200)
    month = models.DateField(null=True, blank=True, help_text="Renewals: the month renewed.")
    invoice = models.CharField(max_length=60, blank=True)
    actor = models.CharField(max_length=254, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "reference"], name="seat_change_once_per_cause"
            ),
            models.UniqueConstraint(
                fields=["subscription", "month"],
                condition=Q(kind="renewed"),
                name="one_renewal_per_month",
            ),
            models.CheckConstraint(
                condition=Q(kind="renewed") | Q(count__gt=0), name="seat_change_counts"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription}: {self.kind} {self.count} ({self.reference})"


class DirectoryUser(models.Model):
    """A person who makes calls (not a portal login)."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="directory_users"
    )
    upn = models.CharField("UPN", max_length=254, help_text="Stored lower-case.")
    display_name = models.CharField(max_length=200)
    usage_location = CountryField()
    phone_number = models.CharField(
        max_length=20, blank=True, help_text="E.164, e.g. +14255550100."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "upn"], name="upn_unique_per_org"),
        ]
        indexes = [
            models.Index(fields=["organisation", "display_name"], name="diruser_org_name"),
            models.Index(fields=["organisation", "usage_location"], name="diruser_org_location"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} <{self.upn}>"


class Assignment(models.Model):
    user = models.ForeignKey(DirectoryUser, on_delete=models.CASCADE, related_name="assignments")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="assignments")
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "product"], name="one_assignment_per_license"),
        ]
        indexes = [models.Index(fields=["product", "user"], name="assignment_product_user")]

    def __str__(self) -> str:
        return f"{self.user.upn}: {self.product.sku}"


class AssignmentEvent(models.Model):
    """History: who assigned or removed which license for whom, when, and through which door."""

    class Action(models.TextChoices):
        ASSIGNED = "assigned", "Assigned"
        REMOVED = "removed", "Removed"

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(DirectoryUser, on_delete=models.CASCADE, related_name="license_events")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=10, choices=Action.choices)
    actor = models.CharField(max_length=254)
    source = models.CharField(max_length=20)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "-at"], name="license_event_user")]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.product.sku} for {self.user.upn}"


class CsvUpload(models.Model):
    """An uploaded CSV between its preview and its all-or-nothing apply."""

    class Kind(models.TextChoices):
        USERS = "users", "Directory users"
        LICENSES = "licenses", "License assignments"
        CAPS = "caps", "Spend caps"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    filename = models.CharField(max_length=200)
    content = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} upload {self.filename}"


CAP_AMOUNT = {"max_digits": 18, "decimal_places": 4, "null": True, "blank": True}


class SpendCap(models.Model):
    """A directory user's own spend caps, in the organisation's currency: what their calls may
    cost per UTC day and per calendar month (UTC). Empty: the organisation's default applies.
    Authorization (usage) enforces them; licensing only keeps them, edited on the user's page."""

    user = models.OneToOneField(DirectoryUser, on_delete=models.CASCADE, related_name="spend_cap")
    daily = models.DecimalField(**CAP_AMOUNT)
    monthly = models.DecimalField(**CAP_AMOUNT)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(daily__gte=0), name="spend_cap_daily_not_negative"),
            models.CheckConstraint(
                condition=Q(monthly__gte=0), name="spend_cap_monthly_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"Spend caps of {self.user.upn}: {self.daily} a day, {self.monthly} a month"


class SpendCapDefaults(models.Model):
    """The organisation's caps: the default of every user without their own, and a cap on what
    all its calls together may cost per UTC day (a circuit breaker against a runaway dialler)."""

    organisation = models.OneToOneField(Organisation, on_delete=models.CASCADE, related_name="+")
    user_daily = models.DecimalField(**CAP_AMOUNT)
    user_monthly = models.DecimalField(**CAP_AMOUNT)
    organisation_daily = models.DecimalField(**CAP_AMOUNT)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user_daily__gte=0)
                & Q(user_monthly__gte=0)
                & Q(organisation_daily__gte=0),
                name="spend_cap_defaults_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"Spend cap defaults of {self.organisation}"
