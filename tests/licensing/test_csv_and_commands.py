"""CSV files and the import_users, assign_licenses and add_seats commands: bad input changes
nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from licensing.exceptions import LicensingError
from licensing.models import Assignment, DirectoryUser, Subscription
from licensing.validation import (
    MAX_CSV_BYTES,
    MAX_CSV_ROWS,
    parse_licenses_csv,
    parse_users_csv,
)
from tests.builders import make_user, seats

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def write(tmp_path, text: str | bytes, name: str = "f.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


GOOD_USERS = (
    "upn,display_name,usage_location,phone_number\n"
    "Ana@Contoso.example,Ana Kim,US,+14255550100\n"
    "ben@contoso.example,Ben Smith,gb,\n"
)


def test_users_csv_is_parsed_and_normalised():
    rows, errors = parse_users_csv(GOOD_USERS.encode())
    assert errors == []
    assert [(r.upn, r.usage_location, r.phone_number) for r in rows] == [
        ("ana@contoso.example", "US", "+14255550100"),
        ("ben@contoso.example", "GB", ""),
    ]
    no_phones, _ = parse_users_csv(b"upn,display_name,usage_location\nana@x.example,Ana,US\n")
    assert no_phones[0].phone_number is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"email,name\nx@y.z,X\n", "header must be upn,display_name,usage_location"),
        ("upn,display_name,usage_location\nb\xe9@x.example,B,US\n".encode("latin-1"), "not UTF-8"),
        (b"upn,display_name,usage_location\n", "no rows"),
        (b"upn,display_name,usage_location\n" + b"a" * (MAX_CSV_BYTES + 1), "larger than"),
        (
            b"upn,display_name,usage_location\n"
            + b"".join(b"u%d@x.example,U,US\n" % n for n in range(MAX_CSV_ROWS + 1)),
            "At most 50,000 rows",
        ),
    ],
)
def test_unreadable_files_are_refused_whole(content, message):
    with pytest.raises(LicensingError, match=message):
        parse_users_csv(content)


def test_row_errors_name_line_and_field():
    content = (
        "upn,display_name,usage_location,phone_number\n"
        "ok@x.example,Ok,US,+14255550100\n"
        "not-a-upn,Bad,US,\n"
        "c@x.example,,ZZ,4255550100\n"
        "ok@x.example,Again,US,\n"
        "d@x.example,D,US,+1425\n"
        "e@x.example,E,US\n"
        "f@x.example,F,US,,extra\n"
    )
    rows, errors = parse_users_csv(content.encode())
    assert [r.upn for r in rows] == ["ok@x.example", "e@x.example"]
    found = {e.line: e.errors for e in errors}
    assert "upn" in found[3]
    assert set(found[4]) == {"display_name", "usage_location", "phone_number"}
    assert "Duplicate of line 2" in found[5]["upn"][0]
    assert "E.164" in found[6]["phone_number"][0]
    assert "row" in found[8]


def test_licenses_csv_splits_skus_on_semicolons():
    rows, errors = parse_licenses_csv(
        b"upn,assign,remove\nana@x.example,PHONE_SYSTEM;calling_domestic,\nben@x.example,,AUDIO_CONF\n"
    )
    assert errors == []
    assert [(r.upn, r.assign, r.remove) for r in rows] == [
        ("ana@x.example", {"PHONE_SYSTEM", "CALLING_DOMESTIC"}, set()),
        ("ben@x.example", set(), {"AUDIO_CONF"}),
    ]


def test_import_users_creates_then_updates(org, tmp_path):
    assert "2 users" in run("import_users", "contoso", write(tmp_path, GOOD_USERS))
    run(
        "import_users",
        "contoso",
        write(tmp_path, "upn,display_name,usage_location\nana@contoso.example,Ana Park,KR\n"),
    )
    ana = DirectoryUser.objects.get(upn="ana@contoso.example")
    assert (ana.display_name, ana.usage_location.code, ana.phone_number) == (
        "Ana Park",
        "KR",
        "+14255550100",
    )
    assert DirectoryUser.objects.count() == 2


def test_import_users_with_a_bad_row_imports_nothing(org, tmp_path):
    with pytest.raises(CommandError, match="1 rows have errors"):
        run("import_users", "contoso", write(tmp_path, GOOD_USERS + "x@contoso.example,X,XX,\n"))
    assert not DirectoryUser.objects.exists()
    with pytest.raises(CommandError, match="No such file"):
        run("import_users", "contoso", str(tmp_path / "missing.csv"))


def test_add_seats(org):
    assert "AUDIO_CONF 5 seats" in run("add_seats", "contoso", "audio_conf", "5")
    run("add_seats", "contoso", "AUDIO_CONF", "3")
    assert Subscription.objects.get().seats == 8
    for args, message in [
        (["BOGUS", "1"], "Unknown license"),
        (["AUDIO_CONF", "0"], "seat count"),
        (["AUDIO_CONF", "-2"], "seat count"),
    ]:
        with pytest.raises(CommandError, match=message):
            run("add_seats", "contoso", *args)
    assert Subscription.objects.get().seats == 8


def test_assign_licenses_by_csv_all_or_nothing(org, tmp_path):
    seats(org, PHONE_SYSTEM=2, CALLING_DOMESTIC=1)
    ana, ben = make_user(org, "ana@contoso.example"), make_user(org, "ben@contoso.example")
    csv_file = write(
        tmp_path,
        "upn,assign,remove\nana@contoso.example,PHONE_SYSTEM;CALLING_DOMESTIC,\nben@contoso.example,PHONE_SYSTEM;CALLING_DOMESTIC,\n",
    )
    out = io.StringIO()
    with pytest.raises(CommandError, match="2 users cannot be changed; nothing was applied"):
        call_command("assign_licenses", "contoso", "--csv", csv_file, stdout=out)
    for upn in ("ana", "ben"):
        assert (
            f"{upn}@contoso.example: refused: No Domestic Calling Plan seats left" in out.getvalue()
        )
    assert not Assignment.objects.exists()
    seats(org, CALLING_DOMESTIC=1)
    assert "ana@contoso.example: CALLING_DOMESTIC, PHONE_SYSTEM" in run(
        "assign_licenses", "contoso", "--csv", csv_file
    )
    assert Assignment.objects.filter(user__in=[ana, ben]).count() == 4


def test_assign_licenses_by_user_list(org):
    seats(org, AUDIO_CONF=5, COMMS_CREDITS=5)
    make_user(org, "ana@contoso.example")
    make_user(org, "ben@contoso.example")
    out = run(
        "assign_licenses",
        "contoso",
        "--users",
        "ana@contoso.example,ben@contoso.example",
        "--assign",
        "AUDIO_CONF,COMMS_CREDITS",
    )
    assert out.count("AUDIO_CONF, COMMS_CREDITS") == 2
    with pytest.raises(CommandError, match="cannot be changed"):
        run(
            "assign_licenses",
            "contoso",
            "--users",
            "ana@contoso.example,nobody@contoso.example",
            "--remove",
            "COMMS_CREDITS",
        )
    with pytest.raises(CommandError, match="Unknown license"):
        run("assign_licenses", "contoso", "--users", "ana@contoso.example", "--assign", "BOGUS")
    with pytest.raises(CommandError, match="Say what to do"):
        run("assign_licenses", "contoso", "--users", "ana@contoso.example")
    assert Assignment.objects.count() == 4
