from django import forms
from django.contrib.auth.forms import AuthenticationForm

from credits_portal.models import ApiKey


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="Where the key is used, e.g. “SBC cluster EU”."
    )
    scope = forms.ChoiceField(choices=ApiKey.Scope.choices, widget=forms.RadioSelect)


class OrganisationSwitchForm(forms.Form):
    organisation = forms.SlugField()


def login_username(request, credentials: dict | None) -> str | None:
    """The address axes counts failures against, lower-cased so that case cannot reset it."""
    credentials = credentials or {}
    value = credentials.get("username") or credentials.get("email")
    if value is None and request is not None:
        value = getattr(request, "POST", {}).get("username")
    return value.strip().lower() if isinstance(value, str) else None
