from django import forms


class BillingContactForm(forms.Form):
    email = forms.EmailField()
    name = forms.CharField(max_length=150, required=False)
