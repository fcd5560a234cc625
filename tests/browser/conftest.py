"""A real Chromium (Debian's, installed by .ci/run) driven by Playwright against the live server."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import tarfile
import urllib.request
from pathlib import Path

import pytest

from licensing.services import Change, license_change
from tests.builders import make_user, seats
from usage.services.rates import rate_card_load

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTEFACTS = ROOT / "test-artefacts"

# axe-core from the npm registry, pinned: the tarball must match the registry's `integrity`.
AXE_VERSION = "4.14.1"
AXE_INTEGRITY = "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
AXE_URL = f"https://registry.npmjs.org/axe-core/-/axe-core-{AXE_VERSION}.tgz"
AXE_CACHE = ROOT / ".data" / "axe-core" / f"axe-core-{AXE_VERSION}.tgz"
AXE_FAILING_IMPACTS = {"serious", "critical"}
DEMO_RATE_CARD = ROOT / "usage" / "data" / "demo_rate_card.csv"

if not os.path.exists(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    """Started for one module and stopped after it: Playwright's sync API keeps an event loop
    running in this thread, inside which Django allows the tests' ORM calls only while it runs."""
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from _launch(sync_playwright)
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def _launch(sync_playwright):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTEFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def sign_in(page, email: str, password: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def enter_card(page, number: str) -> None:
    """Type a card into the Stripe.js card element (localstripe's stand-in for Elements)."""
    page.fill("#card-element input[placeholder=number]", number)
    page.fill("#card-element input[placeholder=exp_month]", "12")
    page.fill("#card-element input[placeholder=exp_year]", "31")
    page.fill("#card-element input[placeholder=cvc]", "123")
    page.fill("#card-element input[placeholder=postal_code]", "98052")


@pytest.fixture
def caller(org):
    """A US user who may spend credits on international calls, with a rate card to price them."""
    rate_card_load(currency="USD", text=DEMO_RATE_CARD.read_text())
    seats(org, PHONE_SYSTEM=5, CALLING_DOMESTIC=5, COMMS_CREDITS=5)
    user = make_user(org, "ana@contoso.example", country="US")
    license_change(
        organisation=org,
        changes=[Change(user, {"PHONE_SYSTEM", "CALLING_DOMESTIC", "COMMS_CREDITS"})],
        actor="test",
        source="test",
    )
    return user


@pytest.fixture(autouse=True)
def _plain_static_names(settings):
    # The live server serves static files through the finders, by their plain names.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def _axe_verified(tarball: bytes) -> bytes:
    algorithm, _, expected = AXE_INTEGRITY.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode()
    if digest != expected:
        raise RuntimeError(f"{AXE_URL} does not match its pinned integrity {AXE_INTEGRITY}")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        member = archive.extractfile("package/axe.min.js")
        if member is None:
            raise RuntimeError(f"{AXE_URL} has no package/axe.min.js")
        return member.read()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe.min.js from the registry's tarball, fetched once and cached under .data/; the
    tarball is checked against the pinned integrity on every run."""
    if not AXE_CACHE.exists():
        with urllib.request.urlopen(AXE_URL, timeout=60) as response:
            tarball = response.read()
        AXE_CACHE.parent.mkdir(parents=True, exist_ok=True)
        partial = AXE_CACHE.with_suffix(".part")
        partial.write_bytes(tarball)
        partial.replace(AXE_CACHE)
    return _axe_verified(AXE_CACHE.read_bytes()).decode("utf-8")


def axe_violations(page, axe_source: str) -> list[dict]:
    """Serious and critical axe violations of the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Through DevTools rather than a <script> tag, which our Content-Security-Policy (no
        # inline script) would rightly refuse: the flows keep running under the real policy.
        page.evaluate(axe_source)
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [v for v in results["violations"] if v["impact"] in AXE_FAILING_IMPACTS]


def describe_violations(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    {' > '.join(map(str, node['target']))}")
    return "\n".join(lines)


@pytest.fixture
def axe_problems(page, axe_source):
    """`axe_problems("name")`: a screenshot of the page, and its serious or critical axe
    violations, listed by rule, help and the elements concerned ("" when there are none)."""

    def check(name: str) -> str:
        shot(page, name)
        violations = axe_violations(page, axe_source)
        if not violations:
            return ""
        return f"axe on {page.url} ({name}):\n" + describe_violations(violations)

    return check


@pytest.fixture
def look(axe_problems):
    """`look("name")`: a screenshot, and the test fails on serious or critical axe violations."""

    def check(name: str) -> None:
        problems = axe_problems(name)
        assert not problems, problems

    return check
