"""The PSTN and SMS usage report's filters: one FilterSet for the page and its exports."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import django_filters
from django import forms
from django.contrib.postgres.aggregates import StringAgg
from django.db.models import CharField, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Cast, Concat, TruncDate
from django.forms.utils import flatatt
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django_countries import countries

from credits_portal.keyset import Order
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
# Only the sorts an index serves (migration 0009_report_indexes: the organisation, the kind, the
# key, the id), so that every page of every sort is a short index scan from its cursor. Sorting
# by name, number or country would sort the whole period's records on every page; the exports
# keep the admin's columns, and a spreadsheet sorts them.
SORTS = (
    ("started_at", "time"),
    ("charge", "charge"),
    ("duration_seconds", "duration"),
    ("record_id", "call_id"),
)


class CountrySelect(forms.Select):
    """The destination's ~250 options rendered from one cached string: the widget templates cost
    a fifth of the report's rendering. The same <select>, name, values and labels."""

    _options: dict[tuple, str] = {}

    def render(self, name, value, attrs=None, renderer=None):
        choices = tuple((str(v), str(label)) for v, label in self.choices)
        options = self._options.get(choices)
        if options is None:
            options = "".join(
                format_html('<option value="{}">{}</option>', v, label) for v, label in choices
            )
            self._options[choices] = options
        if value not in (None, ""):
            chosen = format_html('<option value="{}">', str(value))
            options = options.replace(chosen, chosen[:-1] + " selected>", 1)
        attributes = flatatt(self.build_attrs(self.attrs, {**(attrs or {}), "name": name}))
        return mark_safe(f"<select{attributes}>{options}</select>")  # noqa: S308 (escaped above)


class UsageFilterForm(forms.Form):
    def clean(self):
        data = super().clean()
        if data.get("range") == "custom":
            range_check(self, data, custom_period)
        return data


def range_check(form: forms.Form, data: dict, period) -> None:
    """A chosen range is checked before any date arithmetic: both ends within the portal's dates,
    the start before the end, and at most MAX_RANGE_DAYS days (the usage report and the refused
    calls). `period(data)` is the range's (start, end)."""
    for name in ("start", "end"):
        value = data.get(name)
        if value is not None and (problem := date_problem(value)):
            form.add_error(name, f"The date {problem}")
    if form.errors:
        return
    start, end = period(data)
    if start > end:
        form.add_error("end", "The end must not be before the start.")
    elif (end - start).days + 1 > MAX_RANGE_DAYS:
        form.add_error(
            "end", f"A range covers at most {MAX_RANGE_DAYS} days; narrow it or export by year."
        )


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
        widget=CountrySelect,
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
    return filters, records.order_by(*order_of(filters).order_by)


def order_of(filters: UsageFilter) -> Order:
    """The sort the admin chose (newest first unless asked), always ending in the id so that the
    order is total: a keyset page and an export read the rows in the same order."""
    fields = dict((name, field) for field, name in SORTS)
    chosen = filters.form.cleaned_data.get("sort") if filters.is_valid() else None
    name = chosen[0] if chosen else "-time"
    return Order(field=fields[name.lstrip("-")], descending=name.startswith("-"), name=name)


def with_lots_drawn(records, *, organisation_id: int):
    """Each record (of this organisation) with the purchase dates of the lots its charge drew,
    e.g. "2026-05-02 (0.07)" (two or more joined by "; "), from its ledger entries: a subquery
    that probes the ledger's (account, reference) index with the account's id itself, so that no
    row joins the accounts to find it (issue 16: 1.5x the rows/s of the join on 200,000 calls,
    bench/usage_indexes.py). Exports read it only when the column is chosen; the page asks
    lots_drawn_for about its shown rows only."""
    from billing.models import CreditAccount, LedgerEntry

    account = CreditAccount.objects.filter(organisation_id=organisation_id).values("pk").first()
    drawn = (
        LedgerEntry.objects.filter(
            account_id=account["pk"] if account else None,
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


def lots_drawn_for(rows: list) -> None:
    """Sets `lots_drawn` on each of the shown `rows` (records of one organisation), in one
    query about their ids only."""
    if not rows:
        return
    shown = UsageRecord.objects.filter(id__in=[r.pk for r in rows])
    drawn = dict(
        with_lots_drawn(shown, organisation_id=rows[0].organisation_id).values_list(
            "id", "lots_drawn"
        )
    )
    for row in rows:
        row.lots_drawn = drawn.get(row.pk)
