"""Forms of Billing › Your products and Plans and pricing."""

from __future__ import annotations

import uuid

from django import forms

from billing.services.agreements import agreements_choosable
from credits_portal.models import Organisation
from licensing.exceptions import LicensingError
from licensing.services import MAX_SEATS, catalogue, seat_count
from usage.models import CallType
from usage.services.pricing import MAX_QUERY

DEFAULT = "default"


class _CountField(forms.CharField):
    """A seat count as typed: a whole number from 1 to MAX_SEATS (the service's own check)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(
            max_length=20, widget=forms.TextInput(attrs={"inputmode": "numeric"}), **kwargs
        )

    def clean(self, value):
        value = super().clean(value)
        try:
            return seat_count(value)
        except LicensingError as exc:
            raise forms.ValidationError(exc.message) from None


class BuySeatsForm(forms.Form):
    sku = forms.ChoiceField(label="License")
    count = _CountField(label="Seats to add", help_text=f"1 to {MAX_SEATS:,}.")
    pay_with = forms.ChoiceField(label="Pay with", widget=forms.RadioSelect)
    form_token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, organisation: Organisation, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sku"].choices = [(sku, f"{p.name} ({sku})") for sku, p in catalogue().items()]
        # Only agreements an operator registered; a request pays for nothing.
        self.agreements = {a.number: a for a in agreements_choosable(organisation)}
        self.fields["pay_with"].choices = [(DEFAULT, "The default payment method")] + [
            (number, str(a)) for number, a in self.agreements.items()
        ]
        self.fields["pay_with"].initial = DEFAULT
        self.fields["form_token"].initial = uuid.uuid4()

    @property
    def agreement_number(self) -> str | None:
        chosen = self.cleaned_data.get("pay_with", DEFAULT)
        return None if chosen == DEFAULT else chosen


class ReleaseSeatsForm(forms.Form):
    sku = forms.ChoiceField(label="License")
    count = _CountField(label="Seats to release", help_text="Unassigned seats only.")
    form_token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sku"].choices = [(sku, p.name) for sku, p in catalogue().items()]
        self.fields["form_token"].initial = uuid.uuid4()


class PricingSearchForm(forms.Form):
    q = forms.CharField(
        label="Country or number",
        max_length=MAX_QUERY,
        required=False,
        help_text="A number such as +44 20 or a country such as Germany or DE.",
    )
    type = forms.ChoiceField(
        label="Type", required=False, choices=[("", "Every type"), *CallType.choices]
    )
