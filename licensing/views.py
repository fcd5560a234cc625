"""Licenses and Users: seats, the directory, Licenses and apps, bulk changes and CSV uploads."""

from __future__ import annotations

import hashlib

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from credits_portal.audit import audit
from credits_portal.permissions import Capability, role_can
from credits_portal.tenancy import require_capability
from credits_portal.validation import MAX_QUERY_VALUE, text_problem
from licensing.caps import cap_str, caps_defaults, caps_text, user_caps
from licensing.exceptions import AssignmentRefused, LicensingError
from licensing.filters import DirectoryUserFilter
from licensing.forms import (
    BulkLicenseForm,
    CsvUploadForm,
    MatchingBulkForm,
    UserCapsForm,
    UserDetailsForm,
)
from licensing.models import (
    Assignment,
    AssignmentEvent,
    CsvUpload,
    DirectoryUser,
    Product,
    Subscription,
)
from licensing.services import (
    BulkResult,
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
    user_update,
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
    valid = filters.is_valid()
    listed = filters.qs if valid else queryset
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
            # "All matching" only for a filter the server reads as the page does (an unbound
            # filter, no query at all, matches everyone).
            "can_match": valid or not filters.is_bound,
            "filtered": valid
            and any(
                filters.form.cleaned_data.get(n) for n in ("q", "license", "without", "location")
            ),
        },
    )


def _bulk_message(product: Product, assign: bool, result: BulkResult, whom: str) -> str:
    """What a bulk change did, counting the users it did not need to change."""
    total = result.changed + result.unchanged
    had = "already had it" if assign else "did not have it"
    if not total:
        return "No users match the filter; nothing changed."
    if not result.changed:
        users = f"all {total} {whom} users" if total > 1 else f"the {whom} user"
        return f"{product.name}: {users} {had}; nothing changed."
    verb = "assigned to" if assign else "removed from"
    text = f"{product.name} {verb} {result.changed} user{'s' if result.changed != 1 else ''}"
    return text + (f"; {result.unchanged} {had}." if result.unchanged else ".")


def _refused_message(exc: AssignmentRefused) -> str:
    detail = "; ".join(
        f"{upn}: {' '.join(reasons)}" for upn, reasons in list(exc.problems.items())[:10]
    )
    more = len(exc.problems) - 10
    return f"Nothing was changed. {detail}" + (f" (and {more} more users)" if more > 0 else "")


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
        result = licenses_bulk_change(
            organisation=request.organisation,
            users=selected,
            sku=sku,
            assign=action == "assign",
            actor=_actor(request),
        )
    except AssignmentRefused as exc:
        messages.error(request, _refused_message(exc))
    except LicensingError as exc:
        messages.error(request, exc.message)
    else:
        product = catalogue()[sku]
        audit(
            request,
            f"licenses.bulk_{action}",
            product.label,
            after={"users": sorted(u.upn for u in selected)},
        )
        messages.success(request, _bulk_message(product, action == "assign", result, "selected"))
    return redirect(back)


def _matching_query(query: str) -> str:
    """The filter of a users page, without its page number: the same users on every page."""
    params = QueryDict(query, mutable=True)
    params.pop("page", None)
    return params.urlencode()


def _matching(request: HttpRequest, query: str) -> tuple[QuerySet | None, dict[str, list[str]]]:
    """The organisation's users the users page's filter `query` matches, or the problems of the
    filter by field label. The query arrives inside a form field: its values meet the checks the
    edge gives a page's own query parameters here."""
    params = QueryDict(query)
    filters = DirectoryUserFilter(
        params, queryset=DirectoryUser.objects.filter(organisation=request.organisation)
    )
    fields = filters.form.fields

    def label(name: str) -> str:
        return str(fields[name].label) if name in fields else "Filter"

    errors: dict[str, list[str]] = {}
    for name, values in params.lists():
        for value in values:
            if problem := text_problem(name) or text_problem(value, max_length=MAX_QUERY_VALUE):
                errors.setdefault(label(name), []).append(f"The value {problem}")
    if errors:
        return None, errors
    if not filters.is_valid():
        return None, {label(n): [str(e) for e in errs] for n, errs in filters.errors.items()}
    return filters.qs, errors


def _fingerprint(action: str, sku: str, users: QuerySet) -> str:
    """The confirmed change: the same action and license on exactly the same users."""
    pks = ",".join(str(pk) for pk in users.order_by("pk").values_list("pk", flat=True))
    return hashlib.sha256(f"{action}:{sku}:{pks}".encode()).hexdigest()[:40]


def _matching_page(request: HttpRequest, form: MatchingBulkForm, *, status: int = 200, note=""):
    """The confirmation of a change to every user the filter matches, or why it cannot be."""
    back = reverse("licensing:users")
    context = {"form": form, "note": note, "back": back, "errors": {}}
    if not form.is_valid():
        context["errors"] = {
            str(form.fields[n].label) if n in form.fields else "Form": e
            for n, e in form.errors.items()
        }
        return render(request, "licensing/users_bulk_confirm.html", context, status=400)
    data = form.cleaned_data
    query = _matching_query(data["query"])
    users, errors = _matching(request, query)
    context["back"] = back + (f"?{query}" if query else "")
    if errors:
        context["errors"] = errors
        return render(request, "licensing/users_bulk_confirm.html", context, status=400)
    product = catalogue()[data["sku"]]
    count = users.count()
    holding = Assignment.objects.filter(user__in=users, product=product).count()
    subscription = Subscription.objects.filter(
        organisation=request.organisation, product=product
    ).first()
    context.update(
        product=product,
        assign=data["action"] == "assign",
        count=count,
        holding=holding,
        lacking=count - holding,
        available=subscription.available if subscription else 0,
        fields={
            "query": query,
            "action": data["action"],
            "sku": product.sku,
            "matching": _fingerprint(data["action"], product.sku, users),
        },
        described=_described(users, query),
    )
    return render(request, "licensing/users_bulk_confirm.html", context, status=status)


def _described(users, query: str) -> list[tuple[str, str]]:
    """The filter in words: (label, value) for each criterion that narrows the list."""
    filters = DirectoryUserFilter(QueryDict(query), queryset=users)
    filters.is_valid()
    shown = []
    for name, field in filters.form.fields.items():
        value = filters.form.cleaned_data.get(name)
        if name == "sort" or not value:
            continue
        if name == "location":
            value = dict(field.choices).get(value, value)
        shown.append((str(field.label), str(value)))
    return shown


@require_POST
@require_capability(Capability.LICENSES_MANAGE)
def users_bulk_matching(request: HttpRequest) -> HttpResponse:
    """Every user the filter matches, across pages: how many, and a confirmation."""
    if not request.POST:
        return redirect("licensing:users")
    return _matching_page(request, MatchingBulkForm(request.POST, products=catalogue()))


@require_POST
@require_capability(Capability.LICENSES_MANAGE)
def users_bulk_matching_confirm(request: HttpRequest) -> HttpResponse:
    """The confirmed change to every user the filter matches, all or nothing; asked again when
    the filter now matches other users than the ones confirmed."""
    if not request.POST:
        return redirect("licensing:users")
    products = catalogue()
    form = MatchingBulkForm(request.POST, products=products)
    if not form.is_valid():
        return _matching_page(request, form)
    data = form.cleaned_data
    query = _matching_query(data["query"])
    users, errors = _matching(request, query)
    if errors:
        return _matching_page(request, form)
    action, product = data["action"], products[data["sku"]]
    if data["matching"] != _fingerprint(action, product.sku, users):
        if data["matching"]:
            note = "The users matching the filter changed since you asked; confirm again."
            return _matching_page(request, form, status=409, note=note)
        return _matching_page(request, form, status=400, note="Confirm the change first.")
    back = reverse("licensing:users") + (f"?{query}" if query else "")
    selected = list(users.order_by("pk"))
    try:
        result = licenses_bulk_change(
            organisation=request.organisation,
            users=selected,
            sku=product.sku,
            assign=action == "assign",
            actor=_actor(request),
        )
    except AssignmentRefused as exc:
        messages.error(request, _refused_message(exc))
    except LicensingError as exc:
        messages.error(request, exc.message)
    else:
        audit(
            request,
            f"licenses.bulk_{action}",
            product.label,
            after={"matching": query, "users": sorted(u.upn for u in selected)},
        )
        messages.success(request, _bulk_message(product, action == "assign", result, "matching"))
    return redirect(back)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.LICENSES_MANAGE)
def user_edit(request: HttpRequest, code) -> HttpResponse:
    """Users › a user › Edit details: display name, usage location and phone number."""
    user = _get_user_for(request, code)
    form = UserDetailsForm(
        request.POST or None,
        upn=user.upn,
        initial={
            "display_name": user.display_name,
            "usage_location": user.usage_location.code,
            "phone_number": user.phone_number,
        },
    )
    if request.method == "POST" and form.is_valid():
        row = form.row
        before = user_update(user=user, row=row)
        after = {
            "display_name": row.display_name,
            "usage_location": row.usage_location,
            "phone_number": row.phone_number or "",
        }
        audit(request, "users.updated", user.upn, before=before, after=after)
        messages.success(request, f"Details of {row.display_name} saved.")
        return redirect("licensing:user", code=user.code)
    status = 400 if form.is_bound and form.errors else 200
    return render(
        request, "licensing/user_edit.html", {"form": form, "user_obj": user}, status=status
    )


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
            "missing": [
                (products[sku], needs)
                for sku, needs in missing_prerequisites(held, products).items()
            ],
            "events": AssignmentEvent.objects.filter(user=user).select_related("product")[:50],
            "can_assign": role_can(request.membership.role, Capability.LICENSES_MANAGE),
            **_caps_context(request, user),
        },
    )


def _caps_context(request: HttpRequest, user: DirectoryUser) -> dict:
    """The user's spend caps section: their own caps, the defaults, the form."""
    currency = str(request.organisation.currency)
    own = user_caps(user)
    defaults = caps_text(caps_defaults(request.organisation))
    rows = [
        (label, cap_str(getattr(own, name), currency), defaults[f"user_{name}"])
        for label, name in (("Daily", "daily"), ("Monthly", "monthly"))
    ]
    initial = {name: cap_str(getattr(own, name), currency) or "" for name in ("daily", "monthly")}
    return {
        "cap_rows": rows,
        "caps_form": UserCapsForm(currency=currency, initial=initial),
    }


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
    if kind == CsvUpload.Kind.LICENSES:
        rows = _named(rows, catalogue())
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


def _named(rows, products: dict[str, Product]) -> list[dict]:
    """License rows as the preview shows them: license names, not SKUs."""

    def names(skus: set[str]) -> str:
        return ", ".join(sorted(products[s].name if s in products else s for s in skus))

    return [
        {"line": r.line, "upn": r.upn, "assign": names(r.assign), "remove": names(r.remove)}
        for r in rows
    ]


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
