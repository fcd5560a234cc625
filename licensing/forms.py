from __future__ import annotations

from django import forms

from credits_portal.models import Organisation
from licensing.models import DirectoryUser
from licensing.validation import MAX_CSV_BYTES


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
