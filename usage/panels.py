from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from billing.panels import register_panel
from credits_portal.home import register_card
from usage.services.pools import month_of, pools_this_month


def _pools(request: HttpRequest) -> dict:
    month = month_of(timezone.now())
    return {
        "template": "usage/_pools.html",
        "context": {"pools": pools_this_month(request.organisation, month), "month": month},
    }


register_panel(_pools)
register_card(_pools)
