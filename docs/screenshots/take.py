"""Full-page screenshots of the main pages of a running demo (`make run`), at 1440 and 390 px,
for the before/after review of issue 20:

    PORT=8765 DEMO_USAGE_RECORDS=3000 make run   # in another terminal
    .venv/bin/python docs/screenshots/take.py http://127.0.0.1:8765 docs/screenshots/after

The PNGs are reduced to 128 colours to keep them small. tests/browser/test_visual.py takes the
same set from its own demo (VISUAL_SCREENSHOTS=docs/screenshots/after)."""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

PASSWORD = "Contoso-Demo-2026"
PAGES = [  # (name, address, or (list page, link in it))
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
    ("pools", "/reports/pools/"),
    ("refused-calls", "/reports/refused-calls/"),
    ("audit-log", "/settings/audit-log/"),
    ("api-keys", "/settings/api-keys/"),
    ("billing-contacts", "/settings/billing-contacts/"),
    ("not-found", "/no-such-page/"),
]


def shrink(path: Path) -> None:
    image = Image.open(path).convert("RGB")
    image.quantize(colors=128, dither=Image.Dither.NONE).save(path, optimize=True)


def main(base: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        for width in (1440, 390):
            context = browser.new_context(base_url=base, viewport={"width": width, "height": 900})
            page = context.new_page()

            def shot(name: str, page=page, width=width) -> None:
                path = out / f"{name}-{width}.png"
                page.screenshot(path=str(path), full_page=True)
                shrink(path)

            page.goto("/login/")
            shot("login")
            page.fill("#id_username", "global@contoso.example")
            page.fill("#id_password", PASSWORD)
            page.click("main button[type=submit]")
            page.wait_for_load_state()
            for name, address in PAGES:
                if isinstance(address, tuple):
                    page.goto(address[0])
                    address = page.locator(address[1]).first.get_attribute("href")
                page.goto(address)
                shot(name)
            context.close()
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
