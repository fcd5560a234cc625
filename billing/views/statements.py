from __future__ import annotations

import csv
import io
from datetime import date

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from billing.money import quantum
from billing.pdf import statement_pdf
from billing.services.statement import statement_for
from billing.views.shortcuts import account_for_request
from credits_portal.permissions import Capability
from credits_portal.tenancy import require_capability


def _month(request: HttpRequest) -> date:
    today = timezone.now().date()
    try:
        year, month = (int(part) for part in request.GET.get("month", "").split("-"))
        return date(year, month, 1)
    except (ValueError, TypeError):
        return date(today.year, today.month, 1)


@require_GET
@require_capability(Capability.BILLING_VIEW)
def statement(request: HttpRequest) -> HttpResponse:
    account = account_for_request(request)
    month = _month(request)
    found = statement_for(account, month)
    fmt = request.GET.get("format")
    name = f"{account.organisation.slug}-statement-{month:%Y-%m}"
    if fmt == "pdf":
        response = HttpResponse(statement_pdf(found), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
        return response
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["line", "amount", "currency"])
        for label, amount in found.lines:
            writer.writerow(
                [label, amount.quantize(quantum(str(account.currency))), str(account.currency)]
            )
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
    return render(request, "billing/statement.html", {"statement": found, "account": account})
