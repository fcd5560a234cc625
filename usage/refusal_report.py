"""Reports › Refused calls: the filters, the keyset pages, what the admin can do about each
refusal, and the CSV export."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from credits_portal.permissions import Capability, role_can
from usage.exports import safe_text
from usage.filters import DEFAULT_DAYS, PRESETS, range_check
from usage.models import CallType, RefusalReason, RefusedCall

PAGE_SIZE = 50
CALL_TYPES = [c for c in CallType.choices if c[0] != CallType.SMS]


class RefusedCallFilter(forms.Form):
    """The usage report's date range (presets or a custom range, the same bounds), a user, a
    reason, a call type, and the keyset position of the page."""

    range = forms.ChoiceField(choices=PRESETS, required=False, label="Date range")
    start = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    user = forms.CharField(required=False, max_length=254, label="User")
    reason = forms.ChoiceField(
        choices=[("", "Any reason"), *RefusalReason.choices], required=False, label="Reason"
    )
    type = forms.ChoiceField(
        choices=[("", "Any type"), *CALL_TYPES], required=False, label="Call type"
    )
    after = forms.CharField(required=False, max_length=80, widget=forms.HiddenInput)

    def clean_after(self) -> tuple[datetime, int] | None:
        value = self.cleaned_data.get("after")
        if not value:
            return None
        try:
            stamp, pk = value.rsplit("|", 1)
            position = datetime.fromisoformat(stamp), int(pk)
        except ValueError:
            raise forms.ValidationError("Not a position in this report; start again.") from None
        if position[0].tzinfo is None or not 0 < position[1] < 2**63:
            raise forms.ValidationError("Not a position in this report; start again.")
        return position

    def clean(self):
        data = super().clean()
        range_check(self, data, self.period_of)
        return data

    @staticmethod
    def period_of(data) -> tuple[date, date]:
        today = timezone.now().date()
        chosen = data.get("range") or str(DEFAULT_DAYS)
        if chosen != "custom":
            return today - timedelta(days=int(chosen) - 1), today
        end = data.get("end") or today
        return data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1), end

    @property
    def period(self) -> tuple[date, date]:
        return self.period_of(self.cleaned_data)


def refused_calls(organisation, form: RefusedCallFilter) -> QuerySet:
    """The organisation's refusals the (valid) filters choose, newest first."""
    start, end = form.period
    rows = RefusedCall.objects.filter(organisation=organisation, day__gte=start, day__lte=end)
    data = form.cleaned_data
    if user := data["user"].strip():
        rows = rows.filter(Q(upn__icontains=user) | Q(user__display_name__icontains=user))
    if data["reason"]:
        rows = rows.filter(reason=data["reason"])
    if data["type"]:
        rows = rows.filter(type=data["type"])
    return rows.select_related("user").order_by("-last_at", "-id")


def page_of(rows: QuerySet, after: tuple[datetime, int] | None) -> tuple[list, str | None]:
    """One page after the keyset position (never an OFFSET), and the next page's position."""
    if after is not None:
        stamp, pk = after
        rows = rows.filter(Q(last_at__lt=stamp) | Q(last_at=stamp, id__lt=pk))
    page = list(rows[: PAGE_SIZE + 1])
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    return page, (f"{page[-1].last_at.isoformat()}|{page[-1].pk}" if more else None)


@dataclass
class Action:
    text: str
    url: str | None = None


def action_for(row: RefusedCall, role: str | None, staff: bool = False) -> Action:
    """What an admin can do so that this caller's next call is allowed, and where."""
    licenses = role_can(role, Capability.LICENSES_MANAGE)
    user_page = reverse("licensing:user", args=[row.user.code]) if row.user else None
    reason = row.reason
    if reason == RefusalReason.UNKNOWN_USER:
        url = reverse("licensing:users_import") if licenses else None
        return Action("Add the user to the directory (import users), or correct the UPN.", url)
    if reason == RefusalReason.NO_LICENSE:
        return Action(
            "Assign Phone System (or Audio Conferencing for meeting calls) on the user's page.",
            user_page if licenses else None,
        )
    if reason == RefusalReason.NO_CREDITS_LICENSE:
        return Action(
            "Assign Communications Credits or a calling plan on the user's page "
            "(or wait for the pool to reset on the 1st).",
            user_page if licenses else None,
        )
    if reason == RefusalReason.INSUFFICIENT_BALANCE:
        manage = role_can(role, Capability.BILLING_MANAGE)
        return Action(
            "Add funds to Communications Credits, or turn on auto-recharge.",
            reverse("billing:add_funds") if manage else None,
        )
    if reason == RefusalReason.DESTINATION_NOT_RATED:
        country = f" ({row.to_country})" if row.to_country else ""
        return Action(
            f"The rate card has no rate for this destination{country}: ask the operator to add one.",
            reverse("admin:usage_rate_changelist") if staff else None,
        )
    if reason == RefusalReason.CAP_REACHED:
        return Action(
            "A spend cap stopped the call: raise the user's caps on their page or the "
            "organisation's under Users › Spend caps, or wait for the day or month to end (UTC).",
            (user_page or reverse("licensing:caps")) if licenses else None,
        )
    if reason == RefusalReason.DESTINATION_BLOCKED:
        manage = role_can(role, Capability.BILLING_MANAGE)
        return Action(
            "A toll-fraud guard refused it (a blocked prefix or country, or dearer than the"
            " maximum rate): if the call was wanted, change Settings › Fraud guards.",
            reverse("usage:fraud_guards") if manage else None,
        )
    return Action("")


COLUMNS = (
    "Day (UTC)",
    "First refusal ({zone})",
    "Last refusal ({zone})",
    "Username",
    "Display name",
    "Call type",
    "Last number called",
    "Destination country or region",
    "Reason",
    "Refusals",
    "What to do",
)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: QuerySet, role: str | None, zone: str = "UTC") -> Iterator[str]:
    """RFC 4180 lines with a BOM, read through a server-side cursor; times in the admin's `zone`
    (the day stays the UTC day the refusals are counted by); text that a spreadsheet would take
    for a formula stays text."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield "\ufeff" + writer.writerow([title.format(zone=zone) for title in COLUMNS])
    tz = ZoneInfo(zone)
    for row in rows.iterator(chunk_size=2000):
        cells = [
            f"{row.day:%Y-%m-%d}",
            f"{row.first_at.astimezone(tz):%Y-%m-%d %H:%M:%S}",
            f"{row.last_at.astimezone(tz):%Y-%m-%d %H:%M:%S}",
            row.upn,
            row.user.display_name if row.user else "",
            row.get_type_display(),
            row.to_number,
            row.to_country,
            row.get_reason_display(),
            str(row.count),
            action_for(row, role).text,
        ]
        yield writer.writerow([safe_text(cell) for cell in cells])
