from __future__ import annotations

from django import forms
from django_countries import countries

from credits_portal.models import Organisation
from licensing.caps import clean_caps
from licensing.exceptions import LicensingError
from licensing.models import DirectoryUser, Product
from licensing.validation import MAX_CSV_BYTES, clean_user

# The users page's filter as a query string (search, license, location, sort).
MAX_FORM_QUERY = 4_000


class CsvUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file", help_text=f"UTF-8, at most {MAX_CSV_BYTES // (1024 * 1024)} MB."
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_CSV_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB."
            )
        return upload


class BulkLicenseForm(forms.Form):
    """Users › the selection: one license assigned to or removed from the selected users."""

    users = forms.ModelMultipleChoiceField(
        queryset=DirectoryUser.objects.none(), to_field_name="code", label="Users"
    )
    action = forms.ChoiceField(choices=[("assign", "Assign"), ("remove", "Remove")])
    sku = forms.CharField(label="License")  # licenses_bulk_change names an unknown one

    def __init__(self, *args, organisation: Organisation, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["users"].queryset = DirectoryUser.objects.filter(organisation=organisation)


class MatchingBulkForm(forms.Form):
    """Users › every user matching the filter: one license assigned or removed, after a
    confirmation that carries `matching`, the fingerprint of the users it was shown for."""

    query = forms.CharField(required=False, max_length=MAX_FORM_QUERY, widget=forms.HiddenInput)
    action = forms.ChoiceField(choices=[("assign", "Assign"), ("remove", "Remove")])
    sku = forms.ChoiceField(label="License", choices=[])
    matching = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, products: dict[str, Product], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sku"].choices = [(sku, p.name) for sku, p in products.items()]


class UserDetailsForm(forms.Form):
    """Users › a user › Edit details; checked by `clean_user`, as POST /api/v1/users is."""

    display_name = forms.CharField(max_length=200)
    usage_location = forms.CharField(
        max_length=2,
        widget=forms.Select(choices=[("", "Choose a country"), *countries]),
        help_text="Where the user uses the service: it decides the calling minutes they add.",
    )
    phone_number = forms.CharField(
        max_length=20, required=False, help_text="E.164, e.g. +14255550100; empty for none."
    )

    def __init__(self, *args, upn: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.upn = upn

    def clean(self):
        data = super().clean()
        # Every field is checked, so one answer names every problem (as the API's does).
        values = {name: data.get(name) or "" for name in self.fields}
        try:
            self.row = clean_user({"upn": self.upn, **values})
        except LicensingError as exc:
            for name, problems in (exc.errors or {exc.field: [exc.message]}).items():
                if name in self.fields and name in self.errors:
                    continue  # already refused by the field itself
                for problem in problems:
                    self.add_error(name if name in self.fields else None, problem)
        return data


class _CapsForm(forms.Form):
    """Amounts checked by `licensing.caps.clean_caps`, as the API and the CSV are."""

    def __init__(self, *args, currency: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        for field in self.fields.values():
            field.label = f"{field.label} ({currency})"

    def clean(self):
        data = super().clean()
        values = {name: data.get(name) or "" for name in self.fields if name not in self.errors}
        try:
            self.caps = clean_caps(values, self.currency)
        except LicensingError as exc:
            for name, problems in (exc.errors or {}).items():
                for problem in problems:
                    self.add_error(name, problem)
        return data


def _cap_field(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=30,
        help_text=help_text,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


class UserCapsForm(_CapsForm):
    """Users › a user › Spend caps: empty fields fall back to the organisation's defaults."""

    daily = _cap_field("Daily cap", "What their calls may cost per UTC day; empty: the default.")
    monthly = _cap_field(
        "Monthly cap", "What their calls may cost per calendar month; empty: the default."
    )


class CapDefaultsForm(_CapsForm):
    """Users › Spend caps: the defaults of every user and the organisation's daily cap."""

    user_daily = _cap_field("Default daily cap of a user", "Empty: no daily cap by default.")
    user_monthly = _cap_field("Default monthly cap of a user", "Empty: no monthly cap by default.")
    organisation_daily = _cap_field(
        "Daily cap of the whole organisation",
        "All calls together, per UTC day: a circuit breaker against a runaway dialler.",
    )
