"""Forms of Billing › Your products and Plans and pricing."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

from django import forms

from billing.services.agreements import agreements_choosable
from credits_portal.models import Organisation
from credits_portal.validation import MAX_FORM_VALUE
from licensing.exceptions import LicensingError
from licensing.services import MAX_SEATS, catalogue, seat_count
from usage.models import GUARD_MAX_BLOCKED, GUARD_SECONDS, CallType, FraudGuard
from usage.services.fraud_guards import GUARDED_TYPES
from usage.services.pricing import MAX_QUERY

DEFAULT = "default"
CENT = Decimal("0.01")


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


class FraudGuardsForm(forms.Form):
    """Settings › Fraud guards: the page's words for fraud_guards_save's arguments (lengths in
    minutes here, seconds in the API); the service checks every value again."""

    max_rate_per_minute = forms.CharField(
        max_length=30,
        required=False,
        help_text="Calls to a destination of a dearer rate are refused. Empty: no maximum.",
    )
    blocked_prefixes = forms.CharField(
        label="Blocked destinations",
        max_length=MAX_FORM_VALUE,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="E.164 prefixes such as +882 and ISO countries such as CU, separated by"
        f" spaces, commas or lines (at most {GUARD_MAX_BLOCKED}).",
    )

    def __init__(self, *args, guard: FraudGuard, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        currency = str(guard.organisation.currency)
        self.fields["max_rate_per_minute"].label = f"Maximum rate per minute ({currency})"
        rate = guard.max_rate_per_minute
        self.fields["max_rate_per_minute"].initial = "" if rate is None else f"{rate:.4f}"
        self.fields["blocked_prefixes"].initial = " ".join(guard.blocked_prefixes)
        low, high = (seconds // 60 for seconds in GUARD_SECONDS)
        for call_type, column in GUARDED_TYPES.items():
            seconds = getattr(guard, column)
            self.fields[_minutes_field(call_type)] = forms.DecimalField(
                label=f"Longest {CallType(call_type).label.lower()} call (minutes)",
                required=False,
                min_value=low,
                max_value=high,
                decimal_places=2,
                initial=_minutes(seconds),
                help_text="Longer calls are cut off. Empty: the platform's own limit.",
            )

    def guards(self) -> dict[str, object]:
        """fraud_guards_save's arguments."""
        data = self.cleaned_data
        seconds: dict[str, int | None] = {}
        for call_type in GUARDED_TYPES:
            minutes = data[_minutes_field(call_type)]
            seconds[call_type] = None if minutes is None else round(minutes * 60)
        return {
            "max_rate_per_minute": data["max_rate_per_minute"].strip() or None,
            "blocked_prefixes": [p for p in re.split(r"[\s,;]+", data["blocked_prefixes"]) if p],
            "max_call_seconds": seconds,
        }

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """The service's errors, by its field names, next to this form's fields."""
        for name, messages in errors.items():
            call_type = name.removeprefix("max_call_seconds.")
            field = _minutes_field(call_type) if call_type in GUARDED_TYPES else name
            for message in messages:
                self.add_error(field if field in self.fields else None, message)


def _minutes_field(call_type: str) -> str:
    return f"max_minutes_{call_type}"


def _minutes(seconds: int | None) -> int | Decimal | None:
    if seconds is None or seconds % 60 == 0:
        return None if seconds is None else seconds // 60
    return (Decimal(seconds) / 60).quantize(CENT)
