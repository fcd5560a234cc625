"""Licenses and Users: seats, the directory, Licenses and apps, bulk changes and CSV uploads."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from credits_portal.audit import audit
from credits_portal.permissions import Capability, role_can
from credits_portal.tenancy import require_capability
from licensing.exceptions import AssignmentRefused, LicensingError
from licensing.filters import DirectoryUserFilter
from licensing.forms import BulkLicenseForm, CsvUploadForm
from licensing.models import AssignmentEvent, CsvUpload, DirectoryUser, Subscription
from licensing.services import (
    Change,
    catalogue,
    csv_rows,
    csv_upload_apply,
    csv_upload_create,
    csv_upload_refusals,
    license_change,
    licenses_bulk_change,
    missing_prerequisites,
    user_licenses,
)
from licensing.validation import RowError

USERS_PAGE_SIZE = 50


def _get_user_for(request: HttpRequest, code) -> DirectoryUser:
    return get_object_or_404(DirectoryUser, organisation=request.organisation, code=code)


def _get_upload_for(request: HttpRequest, code, kind: str) -> CsvUpload:
    return get_object_or_404(
        CsvUpload, organisation=request.organisation, code=code, kind=kind, applied_at__isnull=True
    )


def _actor(request: HttpRequest) -> str:
    return request.user.email


@require_GET
@require_capability(Capability.LICENSES_VIEW)
def licenses(request: HttpRequest) -> HttpResponse:
    held = {s.product_id: s for s in Subscription.objects.filter(organisation=request.organisation)}
    rows = []
    for product in catalogue().values():
        subscription = held.get(product.pk)
        rows.append(
            {
                "product": product,
                "seats": subscription.seats if subscription else 0,
                "assigned": subscription.assigned if subscription else 0,
                "available": subscription.available if subscription else 0,
            }
        )
    return render(request, "licensing/licenses.html", {"rows": rows})


@require_GET
@require_capability(Capability.LICENSES_VIEW)
def users(request: HttpRequest) -> HttpResponse:
    queryset = DirectoryUser.objects.filter(organisation=request.organisation)
    filters = DirectoryUserFilter(request.GET or None, queryset=queryset)
    listed = filters.qs if filters.is_valid() else queryset
    if not request.GET.get("sort"):
        listed = listed.order_by("display_name", "pk")
    page = Paginator(listed.prefetch_related("assignments__product"), USERS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "licensing/users.html",
        {
            "filters": filters,
            "users": page,
            "query": query.urlencode(),
            "products": catalogue().values(),
            "can_assign": role_can(request.membership.role, Capability.LICENSES_MANAGE),
        },
    )


@require_POST
@require_capability(Capability.LICENSES_MANAGE)
def users_bulk(request: HttpRequest) -> HttpResponse:
    """The selected users get one license assigned or removed, all or nothing."""
    back = reverse("licensing:users") + (
        "?" + request.POST["query"] if request.POST.get("query") else ""
    )
    form = BulkLicenseForm(request.POST, organisation=request.organisation)
    if not form.is_valid():
        messages.error(
            request, "Select users of this organisation, a license and assign or remove."
        )
        return redirect(back)
    selected = list(form.cleaned_data["users"])
    sku, action = form.cleaned_data["sku"], form.cleaned_data["action"]
    try:
        licenses_bulk_change(
            organisation=request.organisation,
            users=selected,
            sku=sku,
            assign=action == "assign",
            actor=_actor(request),
        )
    except AssignmentRefused as exc:
        detail = "; ".join(
            f"{upn}: {' '.join(reasons)}" for upn, reasons in list(exc.problems.items())[:10]
        )
        messages.error(request, f"Nothing was changed. {detail}")
    except LicensingError as exc:
        messages.error(request, exc.message)
    else:
        verb = "assigned to" if action == "assign" else "removed from"
        audit(
            request,
            f"licenses.bulk_{action}",
            sku,
            after={"users": sorted(u.upn for u in selected)},
        )
        messages.success(request, f"{sku} {verb} {len(selected)} users.")
    return redirect(back)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.LICENSES_VIEW)
def user_detail(request: HttpRequest, code) -> HttpResponse:
    """Users › a user › Licenses and apps: toggle each license, then Save (all or nothing)."""
    if request.method == "POST":
        return _user_licenses_save(request, code)
    user = _get_user_for(request, code)
    return _user_page(request, user, user_licenses(user), {})


@require_capability(Capability.LICENSES_MANAGE)
def _user_licenses_save(request: HttpRequest, code) -> HttpResponse:
    user = _get_user_for(request, code)
    products = catalogue()
    held = user_licenses(user)
    wanted = {sku for sku in request.POST.getlist("licenses") if sku in products}
    try:
        license_change(
            organisation=request.organisation,
            changes=[Change(user, wanted - held, held - wanted)],
            actor=_actor(request),
            source="portal",
        )
    except AssignmentRefused as exc:
        messages.error(request, "Nothing was saved: " + " ".join(exc.problems[user.upn]))
        return _user_page(
            request, user, held, exc.by_sku.get(user.upn, {}), wanted=wanted, products=products
        )
    audit(
        request,
        "licenses.changed",
        user.upn,
        before={"licenses": sorted(held)},
        after={"licenses": sorted(wanted)},
    )
    messages.success(request, f"Licenses of {user.display_name} saved.")
    return redirect("licensing:user", code=user.code)


def _user_page(
    request: HttpRequest,
    user: DirectoryUser,
    held: set[str],
    refusals: dict[str, list[str]],
    *,
    wanted: set[str] | None = None,
    products=None,
) -> HttpResponse:
    products = products if products is not None else catalogue()
    wanted = held if wanted is None else wanted
    seats = {
        s.product.sku: s
        for s in Subscription.objects.filter(organisation=request.organisation).select_related(
            "product"
        )
    }
    toggles = [
        {
            "product": product,
            "checked": sku in wanted,
            "available": seats[sku].available if sku in seats else 0,
            "needs": " or ".join(p.name for p in product.requires_any.all()),
            "refusals": refusals.get(sku, []),
        }
        for sku, product in products.items()
    ]
    return render(
        request,
        "licensing/user_detail.html",
        {
            "user_obj": user,
            "toggles": toggles,
            "missing": missing_prerequisites(held, products),
            "events": AssignmentEvent.objects.filter(user=user).select_related("product")[:50],
            "can_assign": role_can(request.membership.role, Capability.LICENSES_MANAGE),
        },
    )


def _upload(request: HttpRequest, kind: str, template: str) -> HttpResponse:
    form = CsvUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            saved = csv_upload_create(
                organisation=request.organisation,
                kind=kind,
                filename=upload.name,
                raw=upload.read(),
                created_by=request.user,
            )
        except LicensingError as exc:
            form.add_error("file", exc.message)
        else:
            return redirect(f"licensing:{kind}_import_preview", code=saved.code)
    return render(request, template, {"form": form, "kind": kind})


def _preview(request: HttpRequest, code, kind: str) -> HttpResponse:
    """The file's rows, every row error and every refusal; Apply writes exactly these rows, all
    or none, and is refused while any error or refusal stands."""
    upload = _get_upload_for(request, code, kind)
    try:
        rows, errors = csv_rows(kind=kind, raw=upload.content.encode())
    except LicensingError as exc:  # a file saved before today's checks
        rows, errors = [], [RowError(0, "", {"file": [exc.message]})]
    refused: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST" and errors:
        messages.error(request, f"Nothing was applied: {len(errors)} rows have errors.")
        status = 400
    elif request.method == "POST":
        try:
            count = csv_upload_apply(upload=upload, rows=rows, actor=_actor(request))
        except AssignmentRefused as exc:
            refused = exc.problems
            messages.error(request, f"Nothing was applied: {len(refused)} users cannot be changed.")
            status = 409
        except LicensingError as exc:
            refused = {"": [exc.message]}
            messages.error(request, f"Nothing was applied: {exc.message}")
            status = 409
        else:
            audit(request, f"{kind}.imported", upload.filename, after={"rows": count})
            messages.success(request, f"{count} rows of {upload.filename} applied.")
            return redirect("licensing:users")
    elif kind == CsvUpload.Kind.LICENSES and not errors:
        refused = csv_upload_refusals(upload=upload, rows=rows, actor=_actor(request))
    return render(
        request,
        "licensing/import_preview.html",
        {
            "upload": upload,
            "rows": rows[:200],
            "count": len(rows),
            "errors": errors,
            "refused": refused,
            "applying": request.method == "POST",
            "kind": kind,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@require_capability(Capability.LICENSES_MANAGE)
def users_import(request: HttpRequest) -> HttpResponse:
    return _upload(request, CsvUpload.Kind.USERS, "licensing/import_form.html")


@require_http_methods(["GET", "POST"])
@require_capability(Capability.LICENSES_MANAGE)
def users_import_preview(request: HttpRequest, code) -> HttpResponse:
    return _preview(request, code, CsvUpload.Kind.USERS)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.LICENSES_MANAGE)
def licenses_import(request: HttpRequest) -> HttpResponse:
    return _upload(request, CsvUpload.Kind.LICENSES, "licensing/import_form.html")


@require_http_methods(["GET", "POST"])
@require_capability(Capability.LICENSES_MANAGE)
def licenses_import_preview(request: HttpRequest, code) -> HttpResponse:
    return _preview(request, code, CsvUpload.Kind.LICENSES)
