"""Issue 19, item 2: spend caps on the user's page, Users › Spend caps, and a CSV of caps
(hostile files refused clearly, all or nothing); roles and tenancy."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from credits_portal.models import AuditEvent
from credits_portal.permissions import Role
from licensing.models import CsvUpload, SpendCap, SpendCapDefaults
from licensing.validation import MAX_CSV_BYTES
from tests.builders import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana(org):
    return make_user(org, "ana@contoso.example")


@pytest.fixture
def bo(org):
    return make_user(org, "bo@contoso.example")


def test_the_user_page_shows_and_sets_caps(client_as, ana):
    client = client_as(Role.LICENSE)
    page = client.get(reverse("licensing:user", args=[ana.code]))
    html = page.content.decode()
    assert page.status_code == 200 and "Spend caps" in html
    assert reverse("licensing:user_caps", args=[ana.code]) in html
    response = client.post(
        reverse("licensing:user_caps", args=[ana.code]), {"daily": "20", "monthly": "200.50"}
    )
    assert response.status_code == 302
    cap = SpendCap.objects.get(user=ana)
    assert (cap.daily, cap.monthly) == (Decimal("20.00"), Decimal("200.50"))
    html = client.get(reverse("licensing:user", args=[ana.code])).content.decode()
    assert "20.00 USD" in html and "200.50 USD" in html
    event = AuditEvent.objects.get(action="caps.user_changed")
    assert event.after == {"daily": "20.00", "monthly": "200.50"}
    # Emptied: the default applies again.
    client.post(reverse("licensing:user_caps", args=[ana.code]), {"daily": "", "monthly": ""})
    assert not SpendCap.objects.exists()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"daily": "-1", "monthly": ""}, "daily"),
        ({"daily": "1.001", "monthly": ""}, "daily"),
        ({"daily": "", "monthly": "lots"}, "monthly"),
        ({"daily": "", "monthly": "1" * 10_000}, "monthly"),
        ({"daily": "2\x00", "monthly": ""}, "daily"),
    ],
)
def test_bad_caps_are_400_next_to_the_field(client_as, ana, values, field):
    response = client_as(Role.GLOBAL).post(reverse("licensing:user_caps", args=[ana.code]), values)
    assert response.status_code == 400
    # The form names it, or the edge does for NUL and absurd lengths (credits_portal.validation).
    named = response.context["form"].errors if "form" in response.context else response.context
    assert field in named if "form" in response.context else named["field"] == field
    assert not SpendCap.objects.exists()


def test_a_reader_sees_no_form_and_cannot_post(client_as, ana):
    for role in (Role.BILLING, Role.REPORTS):
        response = client_as(role).post(
            reverse("licensing:user_caps", args=[ana.code]), {"daily": "1"}
        )
        assert response.status_code == 403
    assert not SpendCap.objects.exists()


def test_another_organisation_s_user_is_404(client_as, ana, other_org):
    theirs = make_user(other_org, "zoe@fabrikam.example")
    response = client_as(Role.GLOBAL).post(
        reverse("licensing:user_caps", args=[theirs.code]), {"daily": "1", "monthly": ""}
    )
    assert response.status_code == 404
    assert not SpendCap.objects.exists()


def test_the_defaults_and_the_organisation_s_daily_cap(client_as, org):
    client = client_as(Role.GLOBAL)
    assert client.get(reverse("licensing:caps")).status_code == 200
    response = client.post(
        reverse("licensing:caps"),
        {"user_daily": "10", "user_monthly": "", "organisation_daily": "500.00"},
    )
    assert response.status_code == 302
    defaults = SpendCapDefaults.objects.get(organisation=org)
    assert (defaults.user_daily, defaults.user_monthly, defaults.organisation_daily) == (
        Decimal("10.00"),
        None,
        Decimal("500.00"),
    )
    bad = client.post(
        reverse("licensing:caps"),
        {"user_daily": "-5", "user_monthly": "x", "organisation_daily": "1.234"},
    )
    assert bad.status_code == 400
    assert set(bad.context["form"].errors) == {"user_daily", "user_monthly", "organisation_daily"}
    assert SpendCapDefaults.objects.get(organisation=org).user_daily == Decimal("10.00")


def upload(client, content: bytes, name: str = "caps.csv"):
    return client.post(
        reverse("licensing:caps_import"), {"file": SimpleUploadedFile(name, content, "text/csv")}
    )


def test_a_csv_of_caps_previewed_then_applied(client_as, ana, bo):
    client = client_as(Role.LICENSE)
    response = upload(
        client, b"upn,daily,monthly\nANA@contoso.example,5,50.00\nbo@contoso.example,,20\n"
    )
    assert response.status_code == 302
    preview = client.get(response["Location"])
    assert preview.status_code == 200 and preview.context["count"] == 2
    assert not SpendCap.objects.exists()
    applied = client.post(response["Location"])
    assert applied.status_code == 302
    caps = {c.user.upn: (c.daily, c.monthly) for c in SpendCap.objects.select_related("user")}
    assert caps == {
        "ana@contoso.example": (Decimal("5.00"), Decimal("50.00")),
        "bo@contoso.example": (None, Decimal("20.00")),
    }
    # Applied once: the preview is gone.
    assert client.post(response["Location"]).status_code == 404


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"upn,daily,monthly\nana@contoso.example,1\x00,\n", "NUL"),
        (b"\xff\xfe not utf-8", "UTF-8"),
        (b"upn,daily\nana@contoso.example,1\n", "header"),
        (b"upn,daily,monthly\n", "no rows"),
        (b"upn,daily,monthly\n" + b"x" * (MAX_CSV_BYTES + 1), "MB"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_at_upload(client_as, ana, content, problem):
    response = upload(client_as(Role.GLOBAL), content)
    assert response.status_code == 400
    assert problem in " ".join(response.context["form"].errors["file"])
    assert not CsvUpload.objects.exists()


def test_bad_rows_are_named_and_nothing_is_applied(client_as, ana, bo):
    client = client_as(Role.GLOBAL)
    content = (
        "upn,daily,monthly\n"
        "ana@contoso.example,5,\n"  # good
        "bo@contoso.example,-1,\n"  # negative
        "nobody@contoso.example,1,\n"  # unknown user
        "ana@contoso.example,2,\n"  # duplicate
        "not-an-upn,1.005,abc\n"  # bad UPN, too many decimals, not an amount
        f"bo@contoso.example,{'9' * 10_000},\n"  # a huge cell
    ).encode()
    response = upload(client, content)
    assert response.status_code == 302
    preview = client.get(response["Location"])
    errors = {e.line: e.errors for e in preview.context["errors"]}
    assert set(errors) == {3, 4, 5, 6, 7}
    assert "daily" in errors[3]
    assert errors[4]["upn"] == ["No such user in the directory."]
    assert "Duplicate" in errors[5]["upn"][0]
    assert set(errors[6]) == {"upn", "daily", "monthly"}
    assert "daily" in errors[7]
    applied = client.post(response["Location"])
    assert applied.status_code == 400
    assert not SpendCap.objects.exists()


def test_a_user_removed_after_the_preview_stops_the_whole_file(client_as, ana, bo):
    client = client_as(Role.GLOBAL)
    response = upload(client, b"upn,daily,monthly\nana@contoso.example,5,\nbo@contoso.example,6,\n")
    assert client.get(response["Location"]).context["errors"] == []
    bo.delete()
    assert client.post(response["Location"]).status_code == 400
    assert not SpendCap.objects.exists()
    assert CsvUpload.objects.get().applied_at is None


def test_another_organisation_s_upload_is_404(client_as, org, other_org):
    zoe = make_user(other_org, "zoe@fabrikam.example")
    theirs = CsvUpload.objects.create(
        organisation=other_org,
        kind="caps",
        filename="c.csv",
        content="upn,daily,monthly\nzoe@fabrikam.example,1,\n",
    )
    client = client_as(Role.GLOBAL)
    address = reverse("licensing:caps_import_preview", args=[theirs.code])
    assert client.get(address).status_code == 404
    assert client.post(address).status_code == 404
    assert not SpendCap.objects.filter(user=zoe).exists()
