from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from tests.builders import DEMO_RATE_CARD
from usage.models import Rate
from usage.services.rates import RateTable, rate_card_load, rate_for

pytestmark = pytest.mark.django_db


def load(tmp_path, text: str, *args: str) -> str:
    path = tmp_path / "card.csv"
    path.write_text(text)
    out = io.StringIO()
    call_command("load_rate_card", str(path), *args, stdout=out)
    return out.getvalue()


def test_the_demo_card_loads_and_the_longest_prefix_wins(tmp_path):
    assert load(tmp_path, DEMO_RATE_CARD.read_text()) == "Loaded 25 USD rates.\n"
    assert rate_for("USD", "outbound", "+442071838750").prefix == "4420"
    assert rate_for("USD", "outbound", "+441612345678").prefix == "44"
    assert rate_for("USD", "outbound", "+33142685300").prefix == ""  # the catch-all
    table = RateTable("USD")
    for number in ("+442071838750", "+441612345678", "+33142685300", "+14255550100"):
        assert table.find("outbound", number) == rate_for("USD", "outbound", number)


def test_loading_replaces_the_currency_card_only(tmp_path):
    load(tmp_path, DEMO_RATE_CARD.read_text())
    load(tmp_path, "prefix,type,rate_per_unit\n49,outbound,0.0300\n", "--currency", "eur")
    load(tmp_path, "prefix,type,rate_per_unit\n44,sms,0.0500\n")
    assert (
        Rate.objects.filter(currency="USD").count() == 1
        and Rate.objects.filter(currency="EUR").count() == 1
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prefix,kind,rate\n", "header"),
        ("prefix,type,rate_per_unit\n44,fax,0.1\n", "type 'fax'"),
        ("prefix,type,rate_per_unit\n4x,outbound,0.1\n", "not digits"),
        ("prefix,type,rate_per_unit\n44,outbound,-1\n", "zero or more"),
        ("prefix,type,rate_per_unit\n44,outbound,0.00001\n", "4 decimals"),
        ("prefix,type,rate_per_unit\n44,outbound,cheap\n", "not a rate"),
        ("prefix,type,rate_per_unit\n44,outbound,0.1\n44,outbound,0.2\n", "second rate"),
        ("prefix,type,rate_per_unit\n", "no rates"),
    ],
)
def test_a_bad_card_changes_nothing(tmp_path, text, message):
    load(tmp_path, DEMO_RATE_CARD.read_text())
    with pytest.raises(CommandError, match=message):
        load(tmp_path, text)
    assert Rate.objects.count() == 25


def test_unknown_currency_and_missing_file(tmp_path):
    with pytest.raises(CommandError, match="ISO 4217"):
        load(tmp_path, DEMO_RATE_CARD.read_text(), "--currency", "XYZ")
    with pytest.raises(CommandError, match="No such file"):
        call_command("load_rate_card", str(tmp_path / "none.csv"))


def test_an_edit_in_the_admin_reaches_the_cached_card(rf):
    from django.contrib.admin.sites import site

    rate_card_load(currency="USD", text=DEMO_RATE_CARD.read_text())
    assert rate_for("USD", "outbound", "+442071838750").rate_per_unit == Decimal("0.0210")
    rate = Rate.objects.get(currency="USD", type="outbound", prefix="4420")
    rate.rate_per_unit = Decimal("0.0500")
    admin = site._registry[Rate]
    admin.save_model(rf.post("/"), rate, admin.get_form(rf.get("/"), rate)(instance=rate), True)
    assert rate_for("USD", "outbound", "+442071838750").rate_per_unit == Decimal("0.0500")
    admin.delete_model(rf.post("/"), rate)
    assert rate_for("USD", "outbound", "+442071838750").prefix == "44"
