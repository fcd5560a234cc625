"""The PSTN and SMS usage report's filters: one FilterSet for the page and its exports."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import django_filters
from django import forms
from django.contrib.postgres.aggregates import StringAgg
from django.db.models import CharField, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Cast, Concat, TruncDate
from django.utils import timezone
from django_countries import countries

from credits_portal.validation import date_problem
from usage.models import CallType, FundedBy, UsageRecord

PRESETS = [
    ("7", "Last 7 days"),
    ("28", "Last 28 days"),
    ("90", "Last 90 days"),
    ("custom", "Custom range"),
]
DEFAULT_DAYS = 28
# A year and a day, so that any calendar year fits: the chart draws it by week, the exports stream.
MAX_RANGE_DAYS = 366
SORTS = (
    ("started_at", "time"),
    ("user__display_name", "name"),
    ("user__upn", "upn"),
    ("user__phone_number", "phone"),
    ("type", "type"),
    ("to_number", "to"),
    ("to_country", "country"),
    ("from_number", "from"),
    ("from_country", "from_country"),
    ("charge", "charge"),
    ("currency", "currency"),
    ("duration_seconds", "duration"),
    ("domestic", "domestic"),
    ("record_id", "call_id"),
    ("user__usage_location", "location"),
    ("conference_id", "conference_id"),
    ("capability", "capability"),
    ("plan_minutes", "plan_minutes"),
    ("funded_by", "funded"),
    ("rate_per_unit", "rate"),
    ("units", "units"),
)


class UsageFilterForm(forms.Form):
    """The custom range is checked before any date arithmetic: both ends within the portal's
    dates, the start before the end, and at most MAX_RANGE_DAYS days."""

    def clean(self):
        data = super().clean()
        if data.get("range") != "custom":
            return data
        for name in ("start", "end"):
            value = data.get(name)
            if value is not None and (problem := date_problem(value)):
                self.add_error(name, f"The date {problem}")
        if self.errors:
            return data
        start, end = custom_period(data)
        if start > end:
            self.add_error("end", "The end must not be before the start.")
        elif (end - start).days + 1 > MAX_RANGE_DAYS:
            self.add_error(
                "end", f"A range covers at most {MAX_RANGE_DAYS} days; narrow it or export by year."
            )
        return data


def custom_period(data) -> tuple:
    """The custom range's (start, end); the last DEFAULT_DAYS days for an end left empty."""
    today = timezone.now().date()
    end = data.get("end") or today
    start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
    return start, end


class UsageFilter(django_filters.FilterSet):
    range = django_filters.ChoiceFilter(
        choices=PRESETS, method="in_range", label="Date range", empty_label=None
    )
    start = django_filters.DateFilter(
        method="noop", label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    end = django_filters.DateFilter(
        method="noop", label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    user = django_filters.CharFilter(method="by_user", label="User")
    type = django_filters.ChoiceFilter(
        choices=CallType.choices, label="Call type", empty_label="Any type"
    )
    direction = django_filters.ChoiceFilter(
        choices=[("outbound", "Outbound"), ("inbound", "Inbound")],
        method="by_direction",
        label="Direction",
        empty_label="Both",
    )
    domestic = django_filters.ChoiceFilter(
        choices=[("yes", "Domestic"), ("no", "International")],
        method="by_domestic",
        label="Domestic/international",
        empty_label="Both",
    )
    country = django_filters.ChoiceFilter(
        field_name="to_country",
        choices=list(countries),
        label="Destination",
        empty_label="Anywhere",
    )
    funded_by = django_filters.ChoiceFilter(
        choices=[c for c in FundedBy.choices if c[0] != FundedBy.NONE],
        label="Funded by",
        empty_label="Anything",
    )
    sort = django_filters.OrderingFilter(fields=SORTS, label="Sort")

    class Meta:
        model = UsageRecord
        fields: list[str] = []
        form = UsageFilterForm

    def noop(self, queryset, name, value):
        return queryset  # read by in_range

    def in_range(self, queryset, name, value):
        if value == "custom":
            start, end = custom_period(self.form.cleaned_data)
        else:
            end = timezone.now().date()
            start = end - timedelta(days=int(value) - 1)
        self.period = (start, end)
        return queryset.filter(
            started_at__gte=datetime.combine(start, time.min, UTC),
            started_at__lt=datetime.combine(end + timedelta(days=1), time.min, UTC),
        )

    def by_user(self, queryset, name, value):
        value = value.strip()
        return (
            queryset.filter(Q(user__upn__icontains=value) | Q(user__display_name__icontains=value))
            if value
            else queryset
        )

    def by_direction(self, queryset, name, value):
        inbound = Q(type=CallType.TOLL_FREE_DIAL_IN)
        return queryset.filter(inbound) if value == "inbound" else queryset.exclude(inbound)

    def by_domestic(self, queryset, name, value):
        return queryset.filter(domestic=value == "yes")


def report_queryset(organisation, kind: str, params) -> tuple[UsageFilter, object]:
    """The filtered records of one tab (calls or SMS); the last 28 days unless asked otherwise."""
    data = params.copy()
    data.setdefault("range", str(DEFAULT_DAYS))
    base = UsageRecord.objects.filter(organisation=organisation, kind=kind).select_related("user")
    filters = UsageFilter(data, queryset=base)
    records = filters.qs if filters.is_valid() else base.none()
    if not data.get("sort"):
        records = records.order_by("-started_at", "-id")
    return filters, records


def with_lots_drawn(records):
    """Each record with the purchase dates of the lots its charge drew, e.g. "2026-05-02 (0.07)",
    from its ledger entries: one subquery, evaluated only for the rows read."""
    from billing.models import LedgerEntry

    drawn = (
        LedgerEntry.objects.filter(
            account__organisation=OuterRef("organisation"),
            reference=Concat(Value("usage:"), OuterRef("record_id"), output_field=CharField()),
            lot__isnull=False,
        )
        .order_by()
        .values("account")
        .annotate(
            lots=StringAgg(
                Concat(
                    Cast(TruncDate("lot__purchased_at"), CharField()),
                    Value(" ("),
                    Cast(-F("amount"), CharField()),
                    Value(")"),
                    output_field=CharField(),
                ),
                delimiter="; ",
                order_by="id",
            )
        )
        .values("lots")
    )
    return records.annotate(lots_drawn=Subquery(drawn[:1], output_field=CharField()))
