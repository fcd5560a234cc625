from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.pdf import invoice_pdf
from billing.selectors import invoices
from billing.views.shortcuts import account_for_request, get_invoice_for
from credits_portal.permissions import Capability
from credits_portal.tenancy import require_capability


@require_GET
@require_capability(Capability.BILLING_VIEW)
def invoice_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(invoices(account_for_request(request)), 25).get_page(request.GET.get("page"))
    return render(request, "billing/invoice_list.html", {"invoices": page})


@require_GET
@require_capability(Capability.BILLING_VIEW)
def invoice_detail(request: HttpRequest, code) -> HttpResponse:
    invoice = get_invoice_for(request, code)
    return render(
        request, "billing/invoice_detail.html", {"invoice": invoice, "lines": invoice.lines.all()}
    )


@require_GET
@require_capability(Capability.BILLING_VIEW)
def invoice_download(request: HttpRequest, code) -> HttpResponse:
    invoice = get_invoice_for(request, code)
    response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="invoice-{invoice.display_number}.pdf"'
    return response
