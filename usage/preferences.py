"""The report's column picker and time zone, remembered per admin."""

from __future__ import annotations

import zoneinfo

from django import forms
from django.db.models import BooleanField, Value

from usage.exports import CALL_COLUMNS, SMS_COLUMNS, Column, default_columns
from usage.models import ReportPreference

ZONES = sorted(zoneinfo.available_timezones())


class PreferenceForm(forms.Form):
    call_columns = forms.MultipleChoiceField(
        choices=[(key, title) for key, title, _get in CALL_COLUMNS],
        widget=forms.CheckboxSelectMultiple,
        label="Call columns",
    )
    sms_columns = forms.MultipleChoiceField(
        choices=[(key, title) for key, title, _get in SMS_COLUMNS],
        widget=forms.CheckboxSelectMultiple,
        label="SMS columns",
    )
    time_zone = forms.ChoiceField(choices=[(z, z) for z in ZONES], label="Time zone of display")
    mask_sms_numbers = forms.BooleanField(required=False, label="Mask the numbers SMS were sent to")


def preference_for(user) -> ReportPreference:
    return ReportPreference.objects.filter(user=user).first() or ReportPreference(user=user)


def preference_save(
    *,
    user,
    call_columns: list[str],
    sms_columns: list[str],
    time_zone: str,
    mask_sms_numbers: bool = False,
) -> ReportPreference:
    if time_zone not in ZONES:
        raise ValueError(f"Unknown time zone {time_zone!r}.")
    preference, _ = ReportPreference.objects.update_or_create(
        user=user,
        defaults={
            "call_columns": call_columns,
            "sms_columns": sms_columns,
            "time_zone": time_zone,
            "mask_sms_numbers": mask_sms_numbers,
        },
    )
    return preference


def chosen_columns(columns: list[Column], keys: list[str]) -> list[Column]:
    """The admin's columns in the report's order; the vendor's (default_columns) when none were
    chosen."""
    return [c for c in columns if c[0] in keys] or default_columns(columns)


def mask_choice(records, preference: ReportPreference):
    return records.annotate(mask_to=Value(preference.mask_sms_numbers, output_field=BooleanField()))
