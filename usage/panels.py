from __future__ import annotations

from datetime import date

from django.http import HttpRequest
from django.utils import timezone

from billing.services.alerts import Alert
from credits_portal.permissions import Capability, role_can
from credits_portal.slots import register
from usage.services.overage import overage_this_month
from usage.services.planner import funding_plan, spend_pace
from usage.services.pools import Pool, month_of, pools_this_month

POOL_ALERT_SHARE = 0.8  # a pool this used (held minutes included) is worth an alert


def _month_pools(request: HttpRequest) -> tuple[date, list[Pool]]:
    """This month's pools, read once a request: Home's pools card and its alerts share them."""
    if not hasattr(request, "_month_pools"):
        month = month_of(timezone.now())
        request._month_pools = month, pools_this_month(request.organisation, month)
    return request._month_pools


def _pools(request: HttpRequest) -> dict:
    month, pools = _month_pools(request)
    return {"template": "usage/_pools.html", "context": {"pools": pools, "month": month}}


def _planner(request: HttpRequest) -> dict | None:
    if not request.organisation.holds_credits:
        return None  # it plans credit purchases
    return {
        "template": "usage/_planner_panel.html",
        "context": {"plan": funding_plan(request.organisation)},
    }


def _runway(request: HttpRequest) -> dict | None:
    """Settings › Alerts: the runway a runway alert is measured against."""
    if not request.organisation.holds_credits:
        return None
    plan = funding_plan(request.organisation)
    return {
        "template": "usage/_runway_panel.html",
        "context": {"plan": plan, "pace": spend_pace(plan.daily)},
    }


def _overage(request: HttpRequest) -> dict | None:
    """New commerce: this month's accrued overage and its forecast, and the last invoice."""
    if request.organisation.holds_credits:
        return None
    if not role_can(request.membership.role, Capability.BILLING_VIEW):
        return None
    return {
        "template": "usage/_overage.html",
        "context": {
            "overage": overage_this_month(request.organisation),
            "currency": str(request.organisation.currency),
        },
    }


def pool_alerts(pools: list[Pool], *, holds_credits: bool) -> list[Alert]:
    beyond = (
        "calls beyond them are paid from Communications Credits"
        if holds_credits
        else "calls beyond them are charged as overage"
    )
    alerts = []
    for pool in pools:
        taken = pool.used + pool.held
        if not pool.size or taken < POOL_ALERT_SHARE * pool.size:
            continue
        name = pool.get_category_display() + (f" ({pool.country})" if pool.country else "")
        share = min(taken * 100 // pool.size, 100)
        alerts.append(
            Alert(
                "pool",
                "danger" if taken >= pool.size else "warning",
                f"{name} plan minutes are {share} % used this month ({taken:,} of "
                f"{pool.size:,}); {beyond}.",
                "Assign calling plans",
                "licensing:licenses",
            )
        )
    return alerts


def _pool_alerts(request: HttpRequest) -> dict | None:
    _month, pools = _month_pools(request)
    alerts = pool_alerts(pools, holds_credits=request.organisation.holds_credits)
    if not role_can(request.membership.role, Capability.LICENSES_MANAGE):
        alerts = [
            Alert(
                a.kind,
                a.level,
                a.message + " An admin with the license role can add plans.",
                "",
                "",
            )
            for a in alerts
        ]
    return (
        {"template": "portal/_alert_items.html", "context": {"alerts": alerts}} if alerts else None
    )


register("credits", _overage)
register("credits", _pools)
register("credits", _planner)
register("home", _overage)
register("home", _pools)
register("alerts", _pool_alerts)
register("runway", _runway)
