from __future__ import annotations

import uuid

from django import forms

from billing.alert_models import RUNWAY_DAYS_MAX
from billing.exceptions import BillingError
from billing.models import CreditAccount, EnterpriseAgreement, LedgerEntry
from billing.money import minor_digits
from billing.services.agreements import agreements_choosable
from billing.services.balance_alerts import MAX_LOW_BALANCE, alert_settings_clean
from billing.services.purchases import clean_po_number, purchase_amount

CARD = "card"


class BillingContactForm(forms.Form):
    email = forms.EmailField(max_length=254)  # the column's length, as RFC 5321 allows
    name = forms.CharField(max_length=150, required=False)


def _as_field_error(call, *args):
    try:
        return call(*args)
    except BillingError as exc:
        raise forms.ValidationError(exc.message) from exc


class AddFundsForm(forms.Form):
    """Billing › Communications Credits › Add funds: the amount and how to pay it."""

    amount = forms.CharField(max_length=20, widget=forms.TextInput(attrs={"inputmode": "decimal"}))
    method = forms.ChoiceField(label="Pay with", widget=forms.RadioSelect)
    po_number = forms.CharField(
        label="Purchase order number",
        max_length=50,
        required=False,
        help_text="Optional; printed on the agreement's invoice.",
    )
    form_token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, account: CreditAccount, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        currency = str(account.currency)
        # Only agreements an operator registered; a request pays for nothing.
        self.agreements = {str(a.code): a for a in agreements_choosable(account.organisation)}
        self.fields["method"].choices = [(CARD, "Credit or debit card")] + [
            (code, str(a)) for code, a in self.agreements.items()
        ]
        self.fields["method"].initial = CARD
        self.fields["amount"].label = f"Amount to add ({currency})"
        digits = minor_digits(currency)
        self.fields["amount"].help_text = (
            f"Between the purchase bounds, with at most {digits} decimals."
            if digits
            else "Between the purchase bounds, in whole units."
        )
        self.fields["form_token"].initial = uuid.uuid4()

    def clean_amount(self):
        return _as_field_error(purchase_amount, self.account, self.cleaned_data["amount"])

    def clean_po_number(self):
        return _as_field_error(clean_po_number, self.cleaned_data["po_number"])

    def clean(self):
        data = super().clean()
        if data.get("po_number") and data.get("method") == CARD:
            self.add_error(
                "po_number", "A purchase order number goes with an Enterprise Agreement."
            )
        return data

    @property
    def agreement(self) -> EnterpriseAgreement | None:
        return self.agreements.get(self.cleaned_data.get("method", CARD))


class AgreementRequestForm(forms.Form):
    """An admin asks for an agreement; an operator registers it with a credit limit."""

    number = forms.CharField(label="Agreement number", max_length=40)
    name = forms.CharField(max_length=100, required=False, help_text="A label, e.g. “EMEA 2026”.")
    payment_terms_days = forms.IntegerField(
        label="Requested payment terms (days)",
        min_value=0,
        max_value=120,
        required=False,
        help_text="Optional; the operator sets the terms when registering the agreement.",
    )


class RechargeMethodForm(forms.Form):
    method = forms.ChoiceField(label="Auto-recharge is paid with", widget=forms.RadioSelect)

    def __init__(self, *args, account: CreditAccount, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.agreements = {str(a.code): a for a in agreements_choosable(account.organisation)}
        self.fields["method"].choices = [(CARD, "The saved card")] + [
            (code, str(a)) for code, a in self.agreements.items()
        ]
        self.fields["method"].initial = (
            str(account.recharge_agreement.code) if account.recharge_agreement_id else CARD
        )


class LedgerFilterForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("", "All kinds"), *LedgerEntry.Kind.choices], required=False, label="Kind"
    )


class AutoRechargeForm(forms.Form):
    enabled = forms.BooleanField(label="Auto-recharge", required=False)
    trigger_amount = forms.CharField(
        label="Trigger amount",
        max_length=20,
        help_text="Recharge when the balance falls below this amount.",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    recharge_amount = forms.CharField(
        label="Recharge amount",
        max_length=20,
        help_text="Added each time. One charge closes the gap: a recharge adds this amount plus "
        "whatever the balance lacks of the trigger (owed usage included), so one recharge always "
        "lifts the balance above the trigger.",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )


class AutoRechargeConfirmForm(AutoRechargeForm):
    """The same settings sent back from the confirmation page, with the signed confirmation of
    the charge it showed (a form that skips that page carries none and is asked again)."""

    confirmation = forms.CharField(required=False, widget=forms.HiddenInput)


class AlertsForm(forms.Form):
    """Settings › Alerts: the low-balance thresholds (one amount a line) and the runway's days."""

    low_balance = forms.CharField(
        label="Low-balance thresholds",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 4, "inputmode": "decimal"}),
    )
    runway_days = forms.IntegerField(
        label="Days of runway",
        required=False,
        min_value=1,
        max_value=RUNWAY_DAYS_MAX,
        help_text="Alert when the balance lasts fewer days than this at the recent pace of "
        "spending (the funding planner's). Leave empty for no runway alert.",
    )

    def __init__(self, *args, account: CreditAccount, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        currency = str(account.currency)
        self.fields["low_balance"].label = f"Low-balance thresholds ({currency})"
        self.fields["low_balance"].help_text = (
            f"One amount a line, at most {MAX_LOW_BALANCE}, e.g. 100 and 20: an alert when the "
            "balance falls below each. Leave empty for none."
        )

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        lines = [line.strip() for line in data.get("low_balance", "").splitlines()]
        try:
            settings = alert_settings_clean(
                account=self.account,
                low_balance=[line for line in lines if line],
                runway_days=data.get("runway_days"),
            )
        except BillingError as exc:
            for field, messages in (
                getattr(exc, "errors", None) or {exc.field: [exc.message]}
            ).items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
            return data
        data["low_balance"] = settings.low_balance
        return data
