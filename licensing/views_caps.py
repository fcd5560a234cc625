"""Spend caps: a user's own (on the user's page), the organisation's defaults and daily cap
(Users › Spend caps), and a CSV of users' caps, previewed then applied all or nothing."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from credits_portal.audit import audit
from credits_portal.permissions import Capability
from credits_portal.tenancy import require_capability
from licensing.caps import (
    cap_str,
    caps_defaults,
    caps_defaults_set,
    caps_text,
    caps_upload_apply,
    caps_upload_create,
    parse_caps_csv,
    user_caps,
    user_caps_set,
    user_caps_str,
)
from licensing.exceptions import LicensingError
from licensing.forms import CapDefaultsForm, CsvUploadForm, UserCapsForm
from licensing.models import CsvUpload, DirectoryUser
from licensing.validation import RowError


def _currency(request: HttpRequest) -> str:
    return str(request.organisation.currency)


def _text(value, currency: str) -> str:
    return cap_str(value, currency) or ""


@require_http_methods(["GET", "POST"])
@require_capability(Capability.LICENSES_MANAGE)
def user_caps_edit(request: HttpRequest, code) -> HttpResponse:
    """Users › a user › Spend caps (the user's page posts its form here)."""
    user = get_object_or_404(DirectoryUser, organisation=request.organisation, code=code)
    current = user_caps(user)
    currency = _currency(request)
    form = UserCapsForm(
        request.POST or None,
        currency=currency,
        initial={name: value or "" for name, value in user_caps_str(current, currency).items()},
    )
    if request.method == "POST" and form.is_valid():
        before, after = user_caps_set(
            user=user, daily=form.caps["daily"], monthly=form.caps["monthly"]
        )
        before, after = user_caps_str(before, currency), user_caps_str(after, currency)
        audit(request, "caps.user_changed", user.upn, before=before, after=after)
        messages.success(request, f"Spend caps of {user.display_name} saved.")
        return redirect("licensing:user", code=user.code)
    status = 400 if form.is_bound and form.errors else 200
    context = {
        "form": form,
        "user_obj": user,
        "defaults": caps_text(caps_defaults(request.organisation)),
    }
    return render(request, "licensing/user_caps.html", context, status=status)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.LICENSES_MANAGE)
def caps(request: HttpRequest) -> HttpResponse:
    """Users › Spend caps: every user's default caps and the organisation's daily cap."""
    defaults = caps_defaults(request.organisation)
    form = CapDefaultsForm(
        request.POST or None,
        currency=_currency(request),
        initial={name: value or "" for name, value in caps_text(defaults).items()},
    )
    if request.method == "POST" and form.is_valid():
        before = caps_defaults_set(organisation=request.organisation, **form.caps)
        after = {name: _text(value, _currency(request)) for name, value in form.caps.items()}
        audit(request, "caps.defaults_changed", "", before=before, after=after)
        messages.success(request, "Spend caps saved.")
        return redirect("licensing:caps")
    status = 400 if form.is_bound and form.errors else 200
    capped = DirectoryUser.objects.filter(
        organisation=request.organisation, spend_cap__isnull=False
    ).select_related("spend_cap")
    currency = _currency(request)
    rows = [
        (u, cap_str(u.spend_cap.daily, currency), cap_str(u.spend_cap.monthly, currency))
        for u in capped.order_by("display_name", "pk")[:200]
    ]
    context = {"form": form, "capped": rows, "count": capped.count()}
    return render(request, "licensing/caps.html", context, status=status)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.LICENSES_MANAGE)
def caps_import(request: HttpRequest) -> HttpResponse:
    form = CsvUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            saved = caps_upload_create(
                organisation=request.organisation,
                filename=upload.name,
                raw=upload.read(),
                created_by=request.user,
            )
        except LicensingError as exc:
            form.add_error("file", exc.message)
        else:
            return redirect("licensing:caps_import_preview", code=saved.code)
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "licensing/caps_import.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
@require_capability(Capability.LICENSES_MANAGE)
def caps_import_preview(request: HttpRequest, code) -> HttpResponse:
    """The file's rows and every row error; Apply writes them all, or none while any error
    stands (checked again as it applies)."""
    upload = get_object_or_404(
        CsvUpload,
        organisation=request.organisation,
        code=code,
        kind=CsvUpload.Kind.CAPS,
        applied_at__isnull=True,
    )
    try:
        rows, errors = parse_caps_csv(upload.content.encode(), organisation=request.organisation)
    except LicensingError as exc:
        rows, errors = [], [RowError(0, "", {"file": [exc.message]})]
    status = 200
    if request.method == "POST":
        try:
            count = caps_upload_apply(upload=upload)
        except LicensingError as exc:
            messages.error(request, exc.message)
            status = 409 if exc.conflict else 400
        else:
            audit(request, "caps.imported", upload.filename, after={"rows": count})
            messages.success(request, f"Spend caps of {count} users from {upload.filename} saved.")
            return redirect("licensing:caps")
    context = {"upload": upload, "rows": rows[:200], "count": len(rows), "errors": errors}
    return render(request, "licensing/caps_import_preview.html", context, status=status)
