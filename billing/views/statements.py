from __future__ import annotations

import csv
import io
import re
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
from credits_portal.validation import bad_request, date_problem

_MONTH = re.compile(r"(\d{4})-(\d{1,2})")


def _month(request: HttpRequest) -> date | None:
    """The month asked for (this month when none is), or None for one that cannot be a month of
    the portal: only YYYY-MM is parsed, so no digits reach `date` that it cannot hold."""
    given = request.GET.get("month", "")
    if not given:
        today = timezone.now().date()
        return date(today.year, today.month, 1)
    found = _MONTH.fullmatch(given)
    if not found or not 1 <= int(found[2]) <= 12:
        return None
    month = date(int(found[1]), int(found[2]), 1)
    return None if date_problem(month) else month


@require_GET
@require_capability(Capability.BILLING_VIEW)
def statement(request: HttpRequest) -> HttpResponse:
    account = account_for_request(request)
    month = _month(request)
    if month is None:
        return bad_request("month", "must be a month like 2026-05, between 2000-01 and 2100-12.")
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
        for invoice in found.invoices:
            writer.writerow(
                [
                    f"Invoice {invoice.display_number} ({invoice.get_kind_display()})",
                    invoice.total.quantize(quantum(str(invoice.currency))),
                    str(invoice.currency),
                ]
            )
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
    return render(request, "billing/statement.html", {"statement": found, "account": account})
