"""Issue 16's reports in a real browser at 1440 × 900, for the resolve note's screenshots: the
usage report (its table fits the window), its chart read bar by bar from the keyboard, the PSTN
minute pools and the refused calls. Usage and refusals go through the platform API over HTTP, as
the platform sends them, so the aggregates under the pages are the ingest's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from credits_portal.permissions import Role
from tests.browser.conftest import ARTEFACTS, sign_in
from tests.builders import (
    PASSWORD,
    demo_rate_card,
    grant,
    licensed_user,
    make_api_key,
    make_member,
    seats_of_every_sku,
)

pytestmark = pytest.mark.django_db(transaction=True)
WIDE = {"width": 1440, "height": 900}
NO_OVERFLOW = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
PEOPLE = [  # (name, display name, usage location, licenses)
    ("ana", "Ana Lima", "US", ("PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")),
    ("ben", "Ben Carter", "GB", ("PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS")),
    ("chloe", "Chloé Martin", "US", ("AUDIO_CONF", "COMMS_CREDITS")),
    ("dan", "Dan Okafor", "US", ("PHONE_SYSTEM", "CALLING_DOMESTIC")),  # no credits license
    ("eve", "Eve Novak", "US", ("AUDIO_CONF",)),  # no Phone System
]
# The one credit-funded call of its day: 125 s to the UK, 3 minutes × 0.0230 = 0.07 USD.
MARKED_DAYS_AGO = 5


@pytest.fixture
def page(browser, live_server):
    """The window of the issue's aim: 1440 pixels wide."""
    context = browser.new_context(base_url=live_server.url, viewport=WIDE)
    page = context.new_page()
    yield page
    context.close()


def at(days_ago: int, hour: int) -> str:
    when = datetime.now(UTC).replace(hour=hour, minute=15, second=0, microsecond=0)
    return (when - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def api(page, key: str, path: str, body: dict) -> dict:
    response = page.request.post(
        f"/api/v1{path}", data=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status == 200, response.text()
    return response.json()


def records() -> list[dict]:
    """Four weeks of calls and messages: pool-funded domestic calls most days, credit-funded
    international and conference calls on some, a few SMS."""
    out = []
    for days in range(1, 28):
        if days == MARKED_DAYS_AGO:
            continue
        out.append(
            {"id": f"dom-{days}", "kind": "call", "type": "outbound",
             "user": "ana@contoso.example", "from": "+14255550100", "to": "+12015550123",
             "started_at": at(days, 9), "duration_seconds": 120 + 37 * (days % 9)}
        )  # fmt: skip
        if days % 3 == 0:
            out.append(
                {"id": f"intl-{days}", "kind": "call", "type": "outbound",
                 "user": "ben@contoso.example", "from": "+442079460100", "to": "+81312345678",
                 "started_at": at(days, 14), "duration_seconds": 60 * (days % 7 + 2)}
            )  # fmt: skip
        if days % 4 == 1:
            out.append(
                {"id": f"conf-{days}", "kind": "call", "type": "conference_dial_out",
                 "user": "chloe@contoso.example", "to": "+33142685300",
                 "started_at": at(days, 16), "duration_seconds": 300,
                 "conference_id": f"meet-{days}"}
            )  # fmt: skip
        if days % 5 == 2:
            out.append(
                {"id": f"sms-{days}", "kind": "sms", "type": "sms",
                 "user": "ana@contoso.example", "from": "+14255550100", "to": "+821012345678",
                 "started_at": at(days, 11)}
            )  # fmt: skip
    out.append(
        {"id": "uk-marked", "kind": "call", "type": "outbound", "user": "ana@contoso.example",
         "from": "+14255550100", "to": "+441612345678",
         "started_at": at(MARKED_DAYS_AGO, 10), "duration_seconds": 125}
    )  # fmt: skip
    return out


@pytest.fixture
def seeded(org, page):
    """contoso with five users, 50 USD of credits, four weeks of usage ingested through the API,
    an open authorization holding pool minutes and a few refused authorizations."""
    demo_rate_card()
    seats_of_every_sku(org, 20)
    for name, display, country, skus in PEOPLE:
        user = licensed_user(org, f"{name}@contoso.example", country, *skus)
        user.display_name = display
        user.save(update_fields=["display_name"])
    grant(org, "50.00")
    key = make_api_key(org, "platform")
    results = api(page, key, "/usage/records", {"records": records()})["results"]
    assert all(r["status"] == "rated" for r in results), results
    today = datetime.now(UTC) - timedelta(minutes=20)
    api(page, key, "/usage/records", {"records": [
        {"id": "dom-today", "kind": "call", "type": "outbound", "user": "ana@contoso.example",
         "from": "+14255550100", "to": "+12015550123",
         "started_at": today.strftime("%Y-%m-%dT%H:%M:%SZ"), "duration_seconds": 900},
    ]})  # fmt: skip
    held = api(page, key, "/calls/authorize",
               {"user": "ben@contoso.example", "type": "outbound", "to": "+442071838750"})  # fmt: skip
    assert held["allowed"], held
    refusals = [
        ("dan@contoso.example", "+442071838750", "no_credits_license"),
        ("dan@contoso.example", "+33142685300", "no_credits_license"),
        ("eve@contoso.example", "+12015550123", "no_license"),
        ("ghost@contoso.example", "+12015550123", "unknown_user"),
    ]
    for upn, to, reason in refusals:
        answer = api(page, key, "/calls/authorize", {"user": upn, "type": "outbound", "to": to})
        assert (answer["allowed"], answer["reason"]) == (False, reason), answer
    return org


def test_the_reports_at_1440_pixels(page, look, seeded):
    sign_in(page, make_member(seeded, Role.GLOBAL).email, PASSWORD)

    page.goto("/reports/usage/")
    table = page.get_by_role("table", name="Calls")
    assert table.locator("tbody tr").count() == 43  # the calls of the last 28 days
    assert page.evaluate(NO_OVERFLOW), (
        "the report's table scrolls inside itself, never the page: "
        f"{page.evaluate('document.documentElement.scrollWidth')} px wide"
    )
    look("reports-usage-1440")

    # The chart from the keyboard: Tab from the first bar to the marked day's, whose values the
    # readout then says.
    marked = (datetime.now(UTC) - timedelta(days=MARKED_DAYS_AGO)).strftime("%Y-%m-%d")
    bars = page.locator("[data-chart] g.bar")
    labels = [bars.nth(n).get_attribute("aria-label") for n in range(bars.count())]
    (index,) = [n for n, label in enumerate(labels) if label.startswith(marked + ":")]
    bars.first.focus()
    for _ in range(index):
        page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == f"{marked}: 0.07 USD, 3 billed minutes"
    assert page.inner_text("[data-chart] [data-readout]") == focused
    ARTEFACTS.mkdir(exist_ok=True)
    page.locator("[data-chart]").screenshot(path=str(ARTEFACTS / "reports-chart-focused.png"))
    look("reports-usage-chart-focused")

    page.goto("/reports/pools/")
    assert page.inner_text("h1").startswith("PSTN minute pools")
    assert "Communications Credits pool" in page.inner_text("main")
    countries = page.locator("main table tbody tr td:first-child").all_inner_texts()
    assert "US" in countries and "GB" in countries, countries
    assert page.evaluate(NO_OVERFLOW)
    look("reports-pools")

    page.goto("/reports/refused-calls/")
    assert page.inner_text("h1").startswith("Refused calls")
    refused = page.inner_text("main")
    for reason in ("no_credits_license", "no_license", "unknown_user"):
        assert reason in refused
    assert "dan@contoso.example" in refused and "ghost@contoso.example" in refused
    assert page.evaluate(NO_OVERFLOW)
    look("reports-refused-calls")
