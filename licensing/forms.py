from __future__ import annotations

from django import forms

from licensing.models import Product
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
    users = forms.TypedMultipleChoiceField(coerce=str, choices=[], label="Users")
    action = forms.ChoiceField(choices=[("assign", "Assign"), ("remove", "Remove")])
    product = forms.ModelChoiceField(
        queryset=Product.objects.all(), to_field_name="sku", label="License"
    )

    def __init__(self, *args, user_codes: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["users"].choices = [(code, code) for code in user_codes]
