from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from credits_portal.slots import register
from usage.services.planner import funding_plan
from usage.services.pools import month_of, pools_this_month


def _pools(request: HttpRequest) -> dict:
    month = month_of(timezone.now())
    return {
        "template": "usage/_pools.html",
        "context": {"pools": pools_this_month(request.organisation, month), "month": month},
    }


def _planner(request: HttpRequest) -> dict:
    return {
        "template": "usage/_planner_panel.html",
        "context": {"plan": funding_plan(request.organisation)},
    }


register("credits", _pools)
register("credits", _planner)
register("home", _pools)
