"""`GET` and `PUT /api/v1/account/alerts` (API.md "Admin scope"), for admin keys: the same
settings as Settings › Alerts, through the same service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from django.http import HttpRequest
from ninja import Field, Router, Schema
from pydantic import Strict

from billing.alert_models import RUNWAY_DAYS_MAX, AlertKind
from billing.models import BalanceAlert, CreditAccount
from billing.money import quantum
from billing.services.balance_alerts import (
    MAX_LOW_BALANCE,
    AlertSettings,
    alert_settings,
    alert_settings_save,
)
from credits_portal.api import admin_auth
from credits_portal.api_input import Text
from credits_portal.audit import audit

router = Router(tags=["account"], auth=admin_auth)


class AlertsIn(Schema):
    model_config = {
        "json_schema_extra": {"examples": [{"low_balance": ["100.00", "20.00"], "runway_days": 7}]}
    }

    low_balance: Annotated[list[Text(30)], Field(max_length=MAX_LOW_BALANCE)] | None = Field(
        None,
        description=f"Up to {MAX_LOW_BALANCE} amounts (decimal strings in the organisation's"
        " currency, each more than 0, no two the same): an alert when the balance falls below"
        " each. `[]` for none; left out, the thresholds stay as they are.",
    )
    runway_days: Annotated[int, Strict()] | None = Field(
        None,
        description=f"1 to {RUNWAY_DAYS_MAX}: an alert when the balance lasts fewer days than"
        " this at the funding planner's pace of spending; null for none. Left out, it stays as"
        " it is.",
    )


class AlertStateOut(Schema):
    type: str  # the event it sends: "balance.low" or "runway.low"
    threshold: str  # an amount ("20.00") or a number of days ("7")
    state: str  # "watching", or "sent" (this episode's alert went; re-arms above the threshold)
    sent_at: datetime | None


class AlertsOut(Schema):
    currency: str
    low_balance: list[str]
    runway_days: int | None
    alerts: list[AlertStateOut]


def _account(request: HttpRequest) -> CreditAccount:
    return CreditAccount.objects.select_related("organisation").get(
        organisation=request.organisation
    )


def _plain(settings: AlertSettings, currency: str) -> dict:
    return {
        "low_balance": [str(a.quantize(quantum(currency))) for a in settings.low_balance],
        "runway_days": settings.runway_days,
    }


def _alerts(account: CreditAccount) -> dict:
    currency = str(account.currency)
    states = [
        {
            "type": "runway.low" if alert.kind == AlertKind.RUNWAY else "balance.low",
            "threshold": str(alert.days)
            if alert.kind == AlertKind.RUNWAY
            else str(alert.amount.quantize(quantum(currency))),
            "state": "sent" if alert.fired_at else "watching",
            "sent_at": alert.fired_at,
        }
        for alert in BalanceAlert.objects.filter(account=account)
    ]
    return {"currency": currency, **_plain(alert_settings(account), currency), "alerts": states}


@router.get("/account/alerts", response=AlertsOut)
def alerts_detail(request: HttpRequest):
    """The low-balance thresholds, the runway alert, and the state of each."""
    return _alerts(_account(request))


@router.put("/account/alerts", response=AlertsOut)
def alerts_update(request: HttpRequest, payload: AlertsIn):
    """Replace the thresholds: 422 naming each invalid field, 409 `new_commerce` for an
    organisation that holds no credits. A threshold the balance is already below fires now;
    one kept from before keeps its state (no second alert)."""
    account = _account(request)
    currency = str(account.currency)
    before = alert_settings(account)
    given = payload.model_fields_set
    saved = alert_settings_save(
        account=account,
        low_balance=payload.low_balance if "low_balance" in given else before.low_balance,
        runway_days=payload.runway_days if "runway_days" in given else before.runway_days,
    )
    audit(
        request,
        "alerts.changed",
        before=_plain(before, currency),
        after=_plain(saved, currency),
    )
    return _alerts(account)
