"""Issue 19: setting a user's spend caps on their page, in a real browser, and the call that
authorization then shortens to what the cap leaves."""

from __future__ import annotations

from decimal import Decimal

import pytest

from credits_portal.permissions import Role
from licensing.models import SpendCap
from tests.browser.conftest import sign_in
from tests.builders import PASSWORD, grant, make_member
from usage.services.authorize import call_authorize

pytestmark = pytest.mark.django_db(transaction=True)


def test_setting_a_cap_on_the_user_s_page(page, look, org, caller):
    grant(org, "100.00")
    sign_in(page, make_member(org, Role.LICENSE).email, PASSWORD)
    page.click("nav.side >> text=Users")
    page.click(f"text={caller.display_name}")
    assert "Spend caps" in page.inner_text("main")
    look("user-caps")

    page.get_by_label("Daily cap (USD)").fill("-3")
    page.click("main button:has-text('Save caps')")
    assert "Enter an amount of 0 or more" in page.inner_text("main")
    assert not SpendCap.objects.exists()
    look("user-caps-refused")

    page.get_by_label("Daily cap (USD)").fill("1.00")
    page.get_by_label("Monthly cap (USD)").fill("25")
    page.click("main button:has-text('Save caps')")
    assert f"Spend caps of {caller.display_name} saved." in page.inner_text(".messages")
    assert "1.00 USD" in page.inner_text("main") and "25.00 USD" in page.inner_text("main")
    cap = SpendCap.objects.get(user=caller)
    assert (cap.daily, cap.monthly) == (Decimal("1.00"), Decimal("25.00"))
    look("user-capped")

    # The next call to London (0.0210 a minute) lasts what 1.00 buys, then calls are refused.
    first = call_authorize(
        organisation=org, upn=caller.upn, call_type="outbound", to="+442071838750"
    )
    assert (first.allowed, first.max_seconds) == (True, 47 * 60)
    again = call_authorize(
        organisation=org, upn=caller.upn, call_type="outbound", to="+442071838750"
    )
    assert (again.allowed, again.reason) == (False, "cap_reached")
