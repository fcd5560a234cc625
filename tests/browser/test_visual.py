"""The visual system (issue 20) on every main page of the demo, at 1440 and 390 pixels: a
full-page screenshot of each for the review, no page wider than a phone's window (tables scroll
inside their own box), and axe-core finds nothing serious or critical, in the light and in the
dark colour scheme.

The screenshots go to test-artefacts/visual/, or to the directory VISUAL_SCREENSHOTS names
(`VISUAL_SCREENSHOTS=docs/screenshots/after` refreshes the resolve note's "after" set)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.browser.conftest import ARTEFACTS, ROOT, axe_violations, describe_violations

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "Visual-Demo-2026"
WIDTHS = (1440, 390)
SCHEMES = ("light", "dark")
# (name, address, or (list page, link in it) for a page reached from a list)
PAGES = [
    ("home", "/"),
    ("credits", "/billing/credits/"),
    ("add-funds", "/billing/credits/add/"),
    ("payment-methods", "/billing/payment-methods/"),
    ("invoices", "/billing/invoices/"),
    ("invoice", ("/billing/invoices/", "main table a[href*='/billing/invoices/']")),
    ("statement", "/billing/statements/"),
    ("products", "/billing/products/"),
    ("pricing", "/pricing/"),
    ("licenses", "/licenses/"),
    ("users", "/users/"),
    ("user", ("/users/", "main table td a[href*='/users/']")),
    ("usage-report", "/reports/usage/"),
    ("usage-record", ("/reports/usage/", "main table.records td.when a")),
    ("pools", "/reports/pools/"),
    ("refused-calls", "/reports/refused-calls/"),
    ("audit-log", "/settings/audit-log/"),
    ("api-keys", "/settings/api-keys/"),
    ("billing-contacts", "/settings/billing-contacts/"),
    ("alerts", "/settings/alerts/"),
    ("fraud-guards", "/settings/fraud-guards/"),
    ("webhooks", "/settings/webhooks/"),
    ("spend-caps", "/users/caps/"),
    ("not-found", "/no-such-page/"),
]
NO_OVERFLOW = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
WIDTH = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
# The elements that reach past the window, outside the boxes that scroll by themselves.
WIDEST = """[...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .filter((e) => !e.parentElement.closest(".table-box, .scroll, .tabs"))
  .slice(0, 5).map((e) => e.tagName.toLowerCase() + "." + e.className)"""


def screenshots() -> Path:
    folder = os.environ.get("VISUAL_SCREENSHOTS")
    path = (ROOT / folder) if folder else ARTEFACTS / "visual"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def demo(db):
    """The demo organisations as `make run` seeds them, with fewer usage records."""
    call_command(
        "seed_demo", "--password", PASSWORD, "--usage-records", "400", stdout=io.StringIO()
    )


def walk(browser, base_url: str, axe_source: str, *, width: int, scheme: str) -> list[str]:
    """Every page at one width in one colour scheme; what is wrong with them."""
    context = browser.new_context(
        base_url=base_url, viewport={"width": width, "height": 900}, color_scheme=scheme
    )
    page = context.new_page()
    folder = screenshots()
    problems = []

    def check(name: str) -> None:
        if scheme == "light":
            page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
        elif name in ("home", "credits", "usage-report", "users"):
            page.screenshot(path=str(folder / f"{name}-{width}-dark.png"), full_page=True)
        if width <= 390 and not page.evaluate(NO_OVERFLOW):
            wide, window = page.evaluate(WIDTH)
            culprits = page.evaluate(WIDEST)
            problems.append(
                f"{name} at {width} px ({scheme}) is {wide} px wide, not {window}: {culprits}"
            )
        violations = axe_violations(page, axe_source)
        if violations:
            problems.append(
                f"axe on {name} at {width} px ({scheme}):\n" + describe_violations(violations)
            )

    try:
        page.goto("/login/")
        check("login")
        page.fill("#id_username", "global@contoso.example")
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_load_state()
        for name, address in PAGES:
            if isinstance(address, tuple):
                listing, link = address
                page.goto(listing)
                address = page.locator(link).first.get_attribute("href")
            page.goto(address)
            check(name)
        # The details panel (flyout) of a user's licenses, open over the users list.
        page.goto("/users/")
        page.locator("details.flyout summary").first.click()
        assert page.locator("details.flyout[open] .flyout-panel").is_visible()
        check("users-flyout")
        page.keyboard.press("Escape")
        assert page.locator("details.flyout[open]").count() == 0, "Escape closes the panel"
        # A call's explanation in a panel beside the usage report, the report staying put.
        page.goto("/reports/usage/")
        page.locator("table.records td.when a").first.click()
        page.wait_for_selector("dialog.flyout-dialog[open] h1")
        assert page.url.endswith("/reports/usage/")
        assert "was rated" in page.inner_text("dialog.flyout-dialog h1")
        check("usage-record-flyout")
        page.keyboard.press("Escape")
        assert not page.evaluate("document.getElementById('flyout-dialog').open")
    finally:
        context.close()
    return problems


def test_every_page_at_both_widths_in_both_schemes(browser, live_server, axe_source, demo):
    problems = []
    for width in WIDTHS:
        for scheme in SCHEMES:
            problems += walk(browser, live_server.url, axe_source, width=width, scheme=scheme)
    assert not problems, "\n".join(problems)
