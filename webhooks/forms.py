from django import forms

from credits_portal.events import TYPES
from webhooks.guard import MAX_URL_LENGTH, Refused, url_parse

# What each event means, for the form's checkboxes (API.md names the types).
EVENT_HELP = {
    "balance.low": "The balance fell below one of the alert thresholds.",
    "balance.zero": "The balance reached zero: credit-funded calls stop.",
    "runway.low": "The balance lasts fewer days than the runway alert.",
    "recharge.succeeded": "An auto-recharge added funds.",
    "recharge.failed": "An auto-recharge was declined.",
    "auto_recharge.suspended": "Auto-recharge stopped after declines.",
    "funds.expiring": "Funds expire within 30 days.",
    "cap.reached": "A spend cap was reached.",
    "pool.threshold": "A minute pool reached 80 % or 100 %.",
    "invoice.issued": "An invoice was issued.",
}


class WebhookForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL",
        max_length=MAX_URL_LENGTH,
        widget=forms.URLInput(attrs={"autocomplete": "url", "inputmode": "url"}),
        help_text="An https:// (or http://) address on the public internet.",
    )
    events = forms.MultipleChoiceField(
        choices=[(t, t) for t in TYPES],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event."},
    )

    def clean_url(self) -> str:
        # The URL's form here, beside the other fields' errors; its addresses are checked by the
        # service (endpoint_create), which asks DNS.
        url = self.cleaned_data["url"]
        try:
            url_parse(url)
        except Refused as exc:
            raise forms.ValidationError(str(exc)) from None
        return url
