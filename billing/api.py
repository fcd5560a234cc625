"""`GET /api/v1/account` and `GET /api/v1/ledger` (API.md), for admin keys."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from billing.models import CreditAccount, LedgerEntry
from billing.money import quantum
from billing.selectors import account_summary, active_lots
from billing.services.recharge_settings import auto_recharge_save
from credits_portal.api import admin_auth, cursor_page
from credits_portal.api_input import Text
from credits_portal.audit import audit

router = Router(tags=["account"], auth=admin_auth)


def money_str(amount: Decimal | None, currency: str) -> str | None:
    return None if amount is None else str(amount.quantize(quantum(currency)))


class AutoRechargeIn(Schema):
    model_config = {
        "json_schema_extra": {
            "examples": [{"enabled": True, "trigger_amount": "20.00", "recharge_amount": "100.00"}]
        }
    }

    enabled: bool = Field(description="On: a recharge runs whenever `available` falls below it.")
    trigger_amount: Text(30) = Field(
        description="Recharge when the available amount falls below this; a decimal string in"
        ' the organisation\'s currency (`"20.00"`), 0 or more.'
    )
    recharge_amount: Text(30) = Field(
        description="How much each recharge buys; a decimal string in the organisation's"
        " currency, within PURCHASE_MIN_AMOUNT and PURCHASE_MAX_AMOUNT (default 10 to 10000)."
    )


class AutoRechargeOut(Schema):
    enabled: bool
    trigger_amount: str | None
    recharge_amount: str | None


class ChargeNowOut(Schema):
    amount: str
    currency: str
    method: str  # "card" or "agreement"
    status: str  # "queued": the recharge runs on a worker; its result is in the ledger


class AutoRechargeSavedOut(AutoRechargeOut):
    charge_now: ChargeNowOut | None


class LotOut(Schema):
    id: str
    amount: str
    remaining: str
    purchased_at: datetime
    expires_at: datetime
    source: str


class AccountOut(Schema):
    organisation: str
    currency: str
    commerce: str
    balance: str
    available: str
    auto_recharge: AutoRechargeOut
    lots: list[LotOut]


class LedgerEntryOut(Schema):
    id: str
    at: datetime
    kind: str
    amount: str
    balance_after: str
    lot: str | None
    reference: str


class LedgerOut(Schema):
    entries: list[LedgerEntryOut]
    next_cursor: str | None


class LedgerQuery(Schema):
    cursor: Text(1000) | None = None
    limit: int = 50


def _account(request: HttpRequest) -> CreditAccount:
    return CreditAccount.objects.select_related("organisation").get(
        organisation=request.organisation
    )


@router.get("/account", response=AccountOut)
def account_detail(request: HttpRequest):
    """Balance, available amount, auto-recharge settings and the unexpired lots, oldest first."""
    account = _account(request)
    currency = str(account.currency)
    summary = account_summary(account)
    return {
        "organisation": account.organisation.slug,
        "currency": currency,
        "commerce": account.organisation.commerce,
        "balance": money_str(summary.balance, currency),
        "available": money_str(summary.available, currency),
        "auto_recharge": _auto_recharge(account),
        "lots": [
            {
                "id": str(lot.code),
                "amount": money_str(lot.amount, currency),
                "remaining": money_str(lot.remaining, currency),
                "purchased_at": lot.purchased_at,
                "expires_at": lot.expires_at,
                "source": lot.source,
            }
            for lot in active_lots(account)
        ],
    }


def _auto_recharge(account: CreditAccount) -> dict:
    currency = str(account.currency)
    return {
        "enabled": account.auto_recharge_enabled,
        "trigger_amount": money_str(account.recharge_trigger, currency),
        "recharge_amount": money_str(account.recharge_amount, currency),
    }


@router.put("/account/auto-recharge", response=AutoRechargeSavedOut)
def auto_recharge_update(request: HttpRequest, payload: AutoRechargeIn):
    """Turn auto-recharge on or off and set its amounts: 422 for bad amounts, 409 when there is
    no saved card or agreement to pay with. When the balance is under the new trigger, saving
    queues a recharge at once: `charge_now` states it (null when nothing is charged now)."""
    before = _auto_recharge(_account(request))
    account, charge = auto_recharge_save(
        account=_account(request),
        enabled=payload.enabled,
        trigger_amount=payload.trigger_amount,
        recharge_amount=payload.recharge_amount,
    )
    after = _auto_recharge(account)
    charge_now = None
    if charge.amount_now is not None:
        charge_now = {
            "amount": money_str(charge.amount_now, charge.currency),
            "currency": charge.currency,
            "method": charge.method,
            "status": "queued",
        }
        after["charge_now"] = charge.amount_now
    audit(request, "auto_recharge.changed", before=before, after=after)
    return {**_auto_recharge(account), "charge_now": charge_now}


def _entry_id(text: str) -> int:
    pk = int(text.removeprefix("le_"))
    if not 0 < pk < 2**63:  # a bigint: a larger one would reach PostgreSQL out of range
        raise ValueError(text)
    return pk


@router.get("/ledger", response=LedgerOut)
def ledger(request: HttpRequest, query: Query[LedgerQuery]):
    """Ledger entries, newest first; follow `next_cursor` for older ones."""
    account = _account(request)
    currency = str(account.currency)
    page, next_cursor = cursor_page(
        LedgerEntry.objects.filter(account=account).select_related("lot").order_by("-id"),
        cursor=query.cursor,
        limit=query.limit,
        max_limit=200,
        parse=_entry_id,
        after=lambda entries, pk: entries.filter(id__lt=pk),
        position=lambda entry: f"le_{entry.pk}",
    )
    return {
        "entries": [
            {
                "id": f"le_{entry.pk}",
                "at": entry.at,
                "kind": entry.kind,
                "amount": money_str(entry.amount, currency),
                "balance_after": money_str(entry.balance_after, currency),
                "lot": str(entry.lot.code) if entry.lot else None,
                "reference": entry.reference,
            }
            for entry in page
        ],
        "next_cursor": next_cursor,
    }
