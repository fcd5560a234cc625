"""Billing › Your products (seats: buy, release, renewal) and Plans and pricing.

They live in `usage`, the app that may read both licensing (seats, the catalogue) and billing
(charges, invoices); every business rule is in `usage.services.seats` and `.pricing`.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.exceptions import BillingError
from billing.money import format_money
from billing.services.charges import payment_method_default
from billing.services.ledger import account_for
from credits_portal.audit import audit
from credits_portal.exceptions import PortalError
from credits_portal.permissions import Capability
from credits_portal.tenancy import require_capability, require_member
from licensing.models import SeatChange, Subscription
from licensing.services import catalogue, renews_at, seat_prices, seats_release
from usage.forms import BuySeatsForm, PricingSearchForm, ReleaseSeatsForm
from usage.services.pricing import (
    PricingError,
    availability,
    country_code_of,
    plans,
    rate_lines,
    rate_lookup,
)
from usage.services.seats import seat_quote, seats_buy


def _currency(request: HttpRequest) -> str:
    return str(account_for(request.organisation).currency)


def _sent_before(request: HttpRequest, reference: str) -> bool:
    """Was this form's change made already (the same form sent again): audited once."""
    return SeatChange.objects.filter(
        subscription__organisation=request.organisation, reference=reference
    ).exists()


def seats_audit(request: HttpRequest, action: str, subscription, *, invoice=None, **change) -> None:
    """The audit log's entry for seats bought or released (page and API): the license by name
    and SKU, the change, the invoice, and the seats held, assigned and leaving after it."""
    product = subscription.product
    audit(
        request,
        action,
        f"{product.name} ({product.sku})",
        after={
            **change,
            **({"invoice": invoice.display_number} if invoice else {}),
            "seats": subscription.seats,
            "assigned": subscription.assigned,
            "releasing": subscription.releasing,
        },
    )


@require_GET
@require_capability(Capability.BILLING_VIEW)
def products(request: HttpRequest) -> HttpResponse:
    """Every license the organisation holds: price, seats, assigned, available, renewal."""
    currency = _currency(request)
    prices = seat_prices(currency)
    held = (
        Subscription.objects.filter(organisation=request.organisation)
        .select_related("product")
        .order_by("product__sort_order")
    )
    rows = [
        {
            "subscription": s,
            "price": format_money(prices[s.product_id], currency)
            if s.product_id in prices
            else None,
            "renewing": s.seats - s.releasing,
        }
        for s in held
    ]
    account = account_for(request.organisation)
    return render(
        request,
        "usage/products.html",
        {
            "rows": rows,
            "renews_at": renews_at(),
            "currency": currency,
            "method": payment_method_default(account),
            "release_token": uuid.uuid4(),
        },
    )


@require_http_methods(["GET", "POST"])
@require_capability(Capability.BILLING_MANAGE)
def products_buy(request: HttpRequest) -> HttpResponse:
    """The seats to buy; the next page shows what they cost before anything is charged."""
    initial = {"sku": request.GET.get("sku", "")[:40]}
    form = BuySeatsForm(request.POST or None, organisation=request.organisation, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            quote = seat_quote(
                organisation=request.organisation, sku=data["sku"], count=data["count"]
            )
        except PortalError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return render(
                request,
                "usage/products_buy_confirm.html",
                {
                    "form": form,
                    "quote": quote,
                    "total": format_money(quote.total, quote.currency),
                    "method": _pay_with(request, form),
                },
            )
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "usage/products_buy.html", {"form": form}, status=status)


def _pay_with(request: HttpRequest, form: BuySeatsForm) -> str:
    number = form.agreement_number
    if number:
        return str(form.agreements[number])
    method = payment_method_default(account_for(request.organisation))
    return str(method) if method else ""


@require_POST
@require_capability(Capability.BILLING_MANAGE)
def products_buy_confirm(request: HttpRequest) -> HttpResponse:
    if not request.POST:
        return redirect("usage:products_buy")  # nothing was sent: start from the form
    form = BuySeatsForm(request.POST, organisation=request.organisation)
    if not form.is_valid():
        return render(request, "usage/products_buy.html", {"form": form}, status=400)
    data = form.cleaned_data
    replay = _sent_before(request, f"form:{data['form_token']}")
    try:
        subscription, invoice = seats_buy(
            organisation=request.organisation,
            sku=data["sku"],
            count=data["count"],
            agreement_number=form.agreement_number,
            # The same form sent twice is the same purchase.
            reference=f"form:{data['form_token']}",
            actor=request.user.email,
        )
    except (BillingError, PortalError) as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return render(request, "usage/products_buy.html", {"form": form}, status=409)
    if not replay:
        seats_audit(request, "seats.bought", subscription, add=data["count"], invoice=invoice)
    paid = f"; invoice {invoice.display_number}" if invoice else ""
    messages.success(
        request,
        f"{data['count']} {subscription.product.name} seats added: {subscription.seats} in all"
        f"{paid}.",
    )
    return redirect("usage:products")


@require_POST
@require_capability(Capability.BILLING_MANAGE)
def products_release(request: HttpRequest) -> HttpResponse:
    """Seats to release: confirmed on the next page."""
    if not request.POST:
        return redirect("usage:products")  # nothing was sent: the page's own forms
    form = ReleaseSeatsForm(request.POST)
    if not form.is_valid():
        return _release_refused(request, form)
    subscription = _subscription(request, form.cleaned_data["sku"])
    return render(
        request,
        "usage/products_release.html",
        {"form": form, "subscription": subscription, "renews_at": renews_at()},
    )


@require_POST
@require_capability(Capability.BILLING_MANAGE)
def products_release_confirm(request: HttpRequest) -> HttpResponse:
    if not request.POST:
        return redirect("usage:products")
    form = ReleaseSeatsForm(request.POST)
    if not form.is_valid():
        return _release_refused(request, form)
    data = form.cleaned_data
    subscription = _subscription(request, data["sku"])
    replay = _sent_before(request, f"form:{data['form_token']}")
    try:
        subscription = seats_release(
            subscription=subscription,
            count=data["count"],
            reference=f"form:{data['form_token']}",
            actor=request.user.email,
        )
    except PortalError as exc:
        form.add_error("count", exc.message)
        return render(
            request,
            "usage/products_release.html",
            {"form": form, "subscription": subscription, "renews_at": renews_at()},
            status=409,
        )
    if not replay:
        seats_audit(request, "seats.released", subscription, release=data["count"])
    messages.success(
        request,
        f"{data['count']} {subscription.product.name} seats released: they leave at the next "
        f"renewal, {renews_at():%d %B %Y}.",
    )
    return redirect("usage:products")


def _release_refused(request: HttpRequest, form: ReleaseSeatsForm) -> HttpResponse:
    return render(
        request,
        "usage/products_release.html",
        {"form": form, "subscription": None, "renews_at": renews_at()},
        status=400,
    )


def _subscription(request: HttpRequest, sku: str) -> Subscription:
    return get_object_or_404(
        Subscription.objects.select_related("product"),
        organisation=request.organisation,
        product__sku=sku,
    )


@require_GET
@require_member
def pricing(request: HttpRequest) -> HttpResponse:
    """The published rate card in the organisation's currency, searchable; the plans; and the
    minutes each plan adds where."""
    currency = _currency(request)
    search = PricingSearchForm(request.GET or None)
    lookup, call_type, country = None, "", None
    if search.is_valid():
        call_type = search.cleaned_data["type"]
        query = search.cleaned_data["q"]
        if query:
            try:
                lookup = rate_lookup(currency=currency, query=query, call_type=call_type or None)
            except PricingError as exc:
                search.add_error(exc.field if exc.field in search.fields else None, exc.message)
            else:
                if lookup is None:
                    search.add_error("q", "Neither a phone number nor a country we know.")
                elif lookup.kind == "country":
                    country = country_code_of(query.strip())
    status = 400 if search.errors else 200
    return render(
        request,
        "usage/pricing.html",
        {
            "search": search,
            "lookup": lookup,
            "currency": currency,
            "lines": rate_lines(currency=currency, call_type=call_type or None),
            "plans": plans(currency=currency),
            "availability": availability(country=country),
            "skus": catalogue(),
        },
        status=status,
    )
