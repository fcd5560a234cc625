from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from billing.exceptions import BillingError
from billing.forms import BillingContactForm
from billing.models import BillingContact
from billing.services import contacts as services
from credits_portal.audit import audit
from credits_portal.permissions import Capability
from credits_portal.tenancy import require_capability


def _get_contact_for(request: HttpRequest, code: str) -> BillingContact:
    return get_object_or_404(BillingContact, organisation=request.organisation, code=code)


@require_GET
@require_capability(Capability.BILLING_MANAGE)
def contact_list(request: HttpRequest) -> HttpResponse:
    contacts = BillingContact.objects.filter(organisation=request.organisation)
    return render(request, "billing/contact_list.html", {"contacts": contacts})


@require_http_methods(["GET", "POST"])
@require_capability(Capability.BILLING_MANAGE)
def contact_add(request: HttpRequest) -> HttpResponse:
    form = BillingContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            contact = services.billing_contact_add(
                organisation=request.organisation, **form.cleaned_data
            )
        except BillingError as exc:
            form.add_error(exc.field, exc.message)
        else:
            audit(request, "billing_contact.added", contact.email)
            messages.success(request, f"{contact.email} will receive billing emails.")
            return redirect("billing:contact_list")
    return render(request, "billing/contact_form.html", {"form": form})


@require_http_methods(["GET", "POST"])
@require_capability(Capability.BILLING_MANAGE)
def contact_remove(request: HttpRequest, code: str) -> HttpResponse:
    contact = _get_contact_for(request, code)
    if request.method == "POST":
        services.billing_contact_remove(contact=contact)
        audit(request, "billing_contact.removed", contact.email)
        messages.success(request, f"{contact.email} will no longer receive billing emails.")
        return redirect("billing:contact_list")
    return render(request, "billing/contact_remove.html", {"contact": contact})
