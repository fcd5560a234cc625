"""Settings › API keys in a real browser: a key is shown once, works, and stops when revoked."""

from __future__ import annotations

import pytest

from credits_portal.models import ApiKey
from credits_portal.permissions import Role
from tests.browser.conftest import sign_in
from tests.builders import PASSWORD, make_member

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_an_api_key_shown_once_then_revoke_it(page, look, browser, live_server, org):
    # The API is called from a context of its own: no session cookie, only the key.
    outside = browser.new_context(base_url=live_server.url)

    def account_with(key: str):
        return outside.request.get("/api/v1/account", headers={"Authorization": f"Bearer {key}"})

    try:
        sign_in(page, make_member(org, Role.GLOBAL).email, PASSWORD)
        page.click("nav.side >> text=API keys")
        assert "No keys yet." in page.inner_text("main")
        page.click("main >> text=Create API key")
        page.fill("#id_name", "Finance scripts")
        page.get_by_label("Admin (everything an organisation admin can do)").check()
        look("api-key-form")
        page.click("main button[type=submit]")

        assert page.inner_text("h1") == "API key “Finance scripts” created"
        assert "not shown again" in page.inner_text("[role=alert]")
        plain = page.input_value("#plain-key")
        key = ApiKey.objects.get(name="Finance scripts")
        assert plain.startswith(f"cpk_{key.prefix}_") and plain not in str(key.__dict__)
        look("api-key-created")

        answered = account_with(plain)
        assert answered.status == 200 and answered.json()["organisation"] == "contoso"

        page.click("text=Back to API keys")
        row = page.locator("main tbody tr").filter(has_text="Finance scripts")
        assert "active" in row.inner_text() and f"cpk_{key.prefix}_…" in row.inner_text()
        assert plain not in page.content(), "the key is shown once, when it is created"
        look("api-keys")

        row.get_by_role("link", name="Revoke").click()
        assert page.inner_text("h1") == "Revoke “Finance scripts”?"
        look("api-key-revoke")
        page.click("main button:has-text('Revoke key')")
        assert "requests with it now get 401" in page.inner_text(".messages")
        assert "revoked" in row.inner_text()

        refused = account_with(plain)
        assert refused.status == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        key.refresh_from_db()
        assert key.revoked_at is not None
    finally:
        outside.close()
