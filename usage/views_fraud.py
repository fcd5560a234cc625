"""Settings › Fraud guards: what no call of the organisation may do (issue 19, item 3)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from credits_portal.audit import audit
from credits_portal.permissions import Capability
from credits_portal.tenancy import require_capability
from usage.forms import FraudGuardsForm
from usage.models import RefusalReason
from usage.services.fraud_guards import (
    DEFAULT_BLOCKED,
    FraudGuardError,
    fraud_guard_as_dict,
    fraud_guard_of,
    fraud_guards_save,
)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.BILLING_MANAGE)
def fraud_guards(request: HttpRequest) -> HttpResponse:
    guard = fraud_guard_of(request.organisation)
    form = FraudGuardsForm(request.POST or None, guard=guard)
    if request.method == "POST" and form.is_valid():
        before = fraud_guard_as_dict(guard)
        try:
            saved = fraud_guards_save(organisation=request.organisation, **form.guards())
        except FraudGuardError as exc:
            form.add_service_errors(exc.errors)
        else:
            audit(request, "fraud_guards.changed", before=before, after=fraud_guard_as_dict(saved))
            messages.success(request, "Fraud guards saved: they apply from the next call.")
            return redirect("usage:fraud_guards")
    refused = f"{reverse('usage:refused_calls')}?reason={RefusalReason.DESTINATION_BLOCKED}"
    return render(
        request,
        "usage/fraud_guards.html",
        {"form": form, "default_blocked": DEFAULT_BLOCKED, "refused_url": refused},
    )
