"""Issue 16, item 3: Reports › Refused calls (the vendor's "blocked users" report): filters,
keyset pages, what the admin can do, the CSV export, tenancy, roles and hostile parameters."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from credits_portal.permissions import Role
from usage.models import RefusedCall
from usage.preferences import preference_save
from usage.refusal_report import PAGE_SIZE
from usage.services.refusals import refusal_record

pytestmark = pytest.mark.django_db
UK = "+442071838750"
CMD = "=cmd|' /c calc'!a0@contoso.example"  # the UPN as sent, lower-cased


def refuse(organisation, upn, reason, *, days_ago=0, call_type="outbound", to=UK, times=1):
    when = datetime.now(UTC) - timedelta(days=days_ago)
    for n in range(times):
        assert refusal_record(
            organisation_id=organisation.pk,
            upn=upn,
            call_type=call_type,
            to=to,
            reason=reason,
            now=when + timedelta(seconds=n),
        )


@pytest.fixture
def refused(rated, person, other_org):
    ana = person("ana", "US", "PHONE_SYSTEM", "CALLING_DOMESTIC")
    person("bo", "US", "AUDIO_CONF", "COMMS_CREDITS")
    refuse(rated, "ana@contoso.example", "no_credits_license", times=3)
    refuse(
        rated,
        "bo@contoso.example",
        "insufficient_balance",
        days_ago=2,
        call_type="toll_free_dial_in",
        to="+18005550100",
    )
    refuse(rated, "=cmd|' /C calc'!A0@contoso.example", "unknown_user", days_ago=1)
    refuse(rated, "ana@contoso.example", "destination_not_rated", days_ago=40, to="+33142685300")
    refuse(other_org, "zoe@fabrikam.example", "insufficient_balance")
    refuse(other_org, "ana@contoso.example", "unknown_user")  # their platform, our user's name
    return ana


def upns(page) -> list[str]:
    return [row.upn for row, _action in page.context["rows"]]


def test_the_last_28_days_newest_first_with_what_to_do(client_as, refused):
    page = client_as(Role.GLOBAL).get(reverse("usage:refused_calls"))
    assert page.status_code == 200
    assert upns(page) == [
        "ana@contoso.example",
        CMD,
        "bo@contoso.example",
    ]
    actions = {row.reason: action for row, action in page.context["rows"]}
    assert actions["no_credits_license"].url == reverse("licensing:user", args=[refused.code])
    assert actions["insufficient_balance"].url == reverse("billing:add_funds")
    assert actions["unknown_user"].url == reverse("licensing:users_import")
    (ana,) = [row for row, _ in page.context["rows"] if row.reason == "no_credits_license"]
    assert ana.count == 3
    html = page.content.decode()
    assert "no_credits_license" in html and "Add funds" in html


def test_the_range_select_shows_the_range_of_the_rows(client_as, refused):
    """Without a range asked for, the rows are of the last 28 days and the select says so."""
    html = client_as(Role.GLOBAL).get(reverse("usage:refused_calls")).content.decode()
    assert '<option value="28" selected>' in html


def test_a_reports_reader_sees_what_to_do_without_links_they_cannot_follow(client_as, refused):
    page = client_as(Role.REPORTS).get(reverse("usage:refused_calls"))
    assert page.status_code == 200
    assert all(action.url is None for _row, action in page.context["rows"])


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"range": "90"},
            ["ana@contoso.example", CMD, "bo@contoso.example", "ana@contoso.example"],
        ),
        ({"range": "7", "reason": "insufficient_balance"}, ["bo@contoso.example"]),
        ({"type": "toll_free_dial_in"}, ["bo@contoso.example"]),
        ({"user": "ANA"}, ["ana@contoso.example"]),
        ({"user": "zoe"}, []),
        ({"range": "custom", "start": "2020-01-01", "end": "2020-01-31"}, []),
    ],
)
def test_filters(client_as, refused, params, expected):
    page = client_as(Role.REPORTS).get(reverse("usage:refused_calls"), params)
    assert page.status_code == 200
    assert upns(page) == expected


def test_keyset_pages_never_skip_or_repeat(client_as, rated):
    for n in range(PAGE_SIZE + 7):
        refuse(rated, f"user{n:03}@contoso.example", "unknown_user")
    client = client_as(Role.REPORTS)
    first = client.get(reverse("usage:refused_calls"))
    after = first.context["next_after"]
    assert len(upns(first)) == PAGE_SIZE and after
    refuse(rated, "newcomer@contoso.example", "unknown_user")  # arrives between the pages
    second = client.get(reverse("usage:refused_calls"), {"after": after})
    assert second.context["next_after"] is None
    seen = upns(first) + upns(second)
    assert len(seen) == len(set(seen)) == PAGE_SIZE + 7


def test_the_csv_export_is_streamed_filtered_and_formula_safe(client_as, refused):
    response = client_as(Role.REPORTS).get(reverse("usage:refused_calls_export"), {"range": "90"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="refused-calls-' in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][3] == "Username" and rows[0][8] == "Reason" and len(rows) == 5
    names = [r[3] for r in rows[1:]]
    assert "'=cmd|' /c calc'!a0@contoso.example" in names, "formula-like text stays text"
    assert "zoe@fabrikam.example" not in body
    # A number starts with "+", which a spreadsheet reads as a formula: kept as text (as the
    # usage report's CSV does).
    (ana,) = [r for r in rows[1:] if r[8].startswith("No plan minutes")]
    assert (
        ana[9] == "3" and ana[6] == "'" + UK and ana[10].startswith("Assign Communications Credits")
    )


def test_times_are_in_the_admins_report_time_zone(client_as, members, rated):
    """The page and its CSV show the refusals' times in the zone the admin chose for reports."""
    at = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # 2026-12-01 13:30 in Pacific/Kiritimati
    refusal_record(
        organisation_id=rated.pk,
        upn="ana@contoso.example",
        call_type="outbound",
        to=UK,
        reason="no_license",
        now=at,
    )
    preference_save(
        user=members[Role.GLOBAL], call_columns=[], sms_columns=[], time_zone="Pacific/Kiritimati"
    )
    client = client_as(Role.GLOBAL)
    params = {"range": "custom", "start": "2026-11-01", "end": "2026-12-01"}
    html = client.get(reverse("usage:refused_calls"), params).content.decode()
    assert "Last refused (Pacific/Kiritimati)" in html and "2026-12-01 13:30:00" in html
    assert "2026-11-30 23:30:00" not in html
    body = b"".join(
        client.get(reverse("usage:refused_calls_export"), params).streaming_content
    ).decode()
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][:3] == [
        "Day (UTC)",
        "First refusal (Pacific/Kiritimati)",
        "Last refusal (Pacific/Kiritimati)",
    ]
    assert rows[1][:3] == ["2026-11-30", "2026-12-01 13:30:00", "2026-12-01 13:30:00"]
    # Another admin who never chose a zone reads UTC.
    html = client_as(Role.REPORTS).get(reverse("usage:refused_calls"), params).content.decode()
    assert "2026-11-30 23:30:00" in html and "Last refused (UTC)" in html


def test_another_organisations_refusals_never_show(client_as, refused, other_org):
    client = client_as(Role.GLOBAL)
    for params in ({"range": "90"}, {"user": "zoe"}, {"user": "ana", "reason": "unknown_user"}):
        page = client.get(reverse("usage:refused_calls"), params)
        assert all(row.organisation_id != other_org.pk for row, _ in page.context["rows"])
        export = client.get(reverse("usage:refused_calls_export"), params)
        assert "fabrikam" not in b"".join(export.streaming_content).decode()
    page = client.get(reverse("usage:refused_calls"), {"user": "ana", "reason": "unknown_user"})
    assert page.context["rows"] == []


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.GLOBAL, 200), (Role.BILLING, 200), (Role.REPORTS, 200), (Role.LICENSE, 403)],
)
def test_who_may_read_refused_calls(client_as, refused, role, status):
    assert client_as(role).get(reverse("usage:refused_calls")).status_code == status
    assert client_as(role).get(reverse("usage:refused_calls_export")).status_code == status


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"range": "custom", "start": "2026-02-30"}, "start"),
        ({"range": "custom", "start": "0001-01-01"}, "start"),
        ({"range": "custom", "start": "2026-05-01", "end": "2026-01-01"}, "end"),
        ({"range": "custom", "start": "2020-01-01", "end": "2026-01-01"}, "end"),
        ({"range": "365000"}, "range"),
        ({"reason": "bored"}, "reason"),
        ({"type": "sms"}, "type"),
        ({"user": "x" * 300}, "user"),
        ({"after": "yesterday|1"}, "after"),
        ({"after": f"2026-01-01T00:00:00+00:00|{2**63}"}, "after"),
        ({"user": "x" * 10_000}, "user"),
        ({"user": "a\x00b"}, "user"),
    ],
)
def test_hostile_params_are_400_naming_the_field(client_as, refused, params, field):
    client = client_as(Role.REPORTS)
    page = client.get(reverse("usage:refused_calls"), params)
    assert page.status_code == 400
    export = client.get(reverse("usage:refused_calls_export"), params)
    assert export.status_code == 400
    assert field in export.content.decode()


def test_refusals_are_in_the_navigation(client_as, refused):
    page = client_as(Role.REPORTS).get(reverse("usage:refused_calls")).content.decode()
    assert 'aria-current="page">Refused calls' in page
    assert RefusedCall.objects.count() == 6
