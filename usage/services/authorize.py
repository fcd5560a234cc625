"""May this call start, and for how long? (POST /api/v1/calls/authorize)

Pool minutes first, then credits for legacy-commerce users holding Communications Credits,
overage for new-commerce organisations, otherwise a refusal with its reason. An authorization
holds what will fund the call (DESIGN.md "Holds"): the pool minutes it may use (a `MinuteHold`,
in one conditional statement on the pool's row) and, for a credit-funded call, what the rest of
its `max_seconds` can cost (a `Reservation`, under the account's row lock). Both are coded by the
authorization id, so concurrent calls never together promise more minutes, or money, than exist,
and the usage record that names the id settles them.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_UP, Decimal

from django.utils import timezone

from billing.money import quantum
from billing.services.reservations import (
    account_held,
    reservation_open,
    reservation_open_if_available,
)
from credits_portal.models import Organisation
from credits_portal.process_cache import ProcessCache
from licensing.selectors import Holder, holder_of
from licensing.services import licensing_version
from usage.models import FundedBy, PoolUsage
from usage.services import rating
from usage.services.caps import capped_authorize
from usage.services.fraud_guards import guard_for
from usage.services.holds import minutes_hold
from usage.services.pools import month_of, pool_size
from usage.services.rates import country_of, rate_for
from usage.services.refusals import refusal_record

# A reservation outlives its call's longest duration by this much before the minute task frees it.
RESERVATION_GRACE = timedelta(minutes=5)


@dataclass
class Decision:
    allowed: bool
    reason: str
    funded_by: str = FundedBy.NONE
    max_seconds: int = 0
    rate_per_minute: Decimal = Decimal("0")
    currency: str = ""
    authorization_id: str | None = None


def call_authorize(
    *, organisation: Organisation, upn: str, call_type: str, to: str, from_: str = ""
) -> Decision:
    decision = _decide(organisation, upn, call_type, to, from_)
    if not decision.allowed:  # counted for Reports › Refused calls; never changes the answer
        refusal_record(
            organisation_id=organisation.pk,
            upn=upn,
            call_type=call_type,
            to=to,
            reason=decision.reason,
        )
    return decision


def _decide(organisation: Organisation, upn: str, call_type: str, to: str, from_: str) -> Decision:
    currency = str(organisation.currency)
    refused = Decision(False, "", currency=currency)
    user = _caller(organisation.pk, upn)
    if user is None:
        refused.reason = "unknown_user"
        return refused
    rules = rating.rules_recent()
    skus = rules.held(user.skus)
    if reason := rules.license_refusal(call_type, skus):
        refused.reason = reason
        return refused
    rate = rate_for(currency, call_type, to)
    if rate is None:
        refused.reason = "destination_not_rated"
        return refused
    per_minute = rate.rate_per_unit
    refused.rate_per_minute = per_minute
    guard = guard_for(organisation)  # toll-fraud guards: refuse, or shorten the call (its cap)
    if reason := guard.refusal(to, per_minute):
        refused.reason = reason
        return refused
    category = rating.category_of(call_type, user.usage_location, country_of(to))
    beyond = rules.after_pool(organisation, skus)
    covered = rules.plan_covers(category, skus)
    if beyond is None and not covered:
        refused.reason = "no_credits_license"
        return refused
    cap = guard.longest(call_type, to)
    call = _Call(organisation, user, call_type, to, from_, per_minute, _new_code(), cap)
    held = _minutes_held(call, category, beyond) if covered else 0
    if held == 0 and beyond is None:
        refused.reason = "no_credits_license"  # the pool is used up, or held by other calls
        return refused
    if beyond is not None and per_minute > 0 and 60 * held < cap:  # spend caps, if any
        capped = capped_authorize(
            organisation=organisation,
            user_id=user.id,
            upn=upn,
            code=call.code,
            per_minute=per_minute,
            pool_minutes=held,
            credits=beyond == FundedBy.CREDITS,
            longest=cap,
            grace=RESERVATION_GRACE,
        )
        if capped is not None:
            refused.reason = capped.reason
            paid_by = FundedBy.PLAN_MINUTES if held else beyond
            return _allow(call, paid_by, capped.max_seconds) if capped.allowed else refused
    if beyond == FundedBy.CREDITS and per_minute > 0 and 60 * held < cap:
        return _credit_funded(call, held)
    # The pool alone; or the pool covers the cap, overage has no ceiling, the call costs nothing.
    max_seconds = min(cap, 60 * held) if beyond is None else cap
    return _allow(call, FundedBy.PLAN_MINUTES if held else beyond, max_seconds)


def _new_code() -> str:
    return f"auth_{secrets.token_hex(12)}"


def _minutes_held(call: _Call, category: str, beyond: str | None) -> int:
    """Hold what is left of the call's pool, up to the longest call allowed: the minutes held.
    Without credits or overage beyond them, the call lasts only as long as they do, and so does
    the hold; otherwise the hold lasts as long as the longest call."""
    cap = call.cap
    country = call.user.usage_location if category == PoolUsage.Category.DOMESTIC else ""
    return minutes_hold(
        organisation_id=call.organisation.pk,
        code=call.code,
        pool=(month_of(timezone.now()), category, country),
        size=pool_size(call.organisation, category, country),
        want=math.ceil(cap / 60),
        expires_at=None if beyond is None else _expiry(cap),
        grace=RESERVATION_GRACE,
    )


# This process's copy of each caller, under their organisation's licensing version.
_CALLERS: ProcessCache[Holder | None] = ProcessCache("callers", cap=100_000)


def _caller(organisation_id: int, upn: str) -> Holder | None:
    """The caller and their licenses under the organisation's licensing version as read at most
    a second ago: a change reaches authorization within that second (ingest reads them itself)."""
    upn = upn.strip().lower()
    return _CALLERS.get(
        (organisation_id, upn),
        lambda: holder_of(organisation_id=organisation_id, upn=upn),
        version=licensing_version(organisation_id, max_age=1.0),
    )


@dataclass
class _Call:
    organisation: Organisation
    user: Holder
    type: str
    to: str
    from_: str
    per_minute: Decimal
    code: str  # the authorization id: the code of the call's holds
    cap: int  # the longest it may last: AUTHORIZATION_MAX_SECONDS, or a fraud guard's less


def _credit_funded(call: _Call, pool_left: int) -> Decision:
    """Credits pay for the call beyond the `pool_left` minutes it holds: that part is held too."""
    currency = str(call.organisation.currency)
    cap = call.cap
    funded_by = FundedBy.PLAN_MINUTES if pool_left else FundedBy.CREDITS
    # Usually the balance funds the longest call allowed: hold that in one statement.
    decision = _allow(call, funded_by, cap)
    if reservation_open_if_available(
        organisation_id=call.organisation.pk,
        code=decision.authorization_id,
        amount=_cost(call.per_minute, cap - 60 * pool_left, currency),
        expires_at=_expiry(cap),
    ):
        return decision
    # Otherwise the call gets what the pool and the available funds buy, under the account lock.
    with account_held(call.organisation.pk) as hold:
        minutes = pool_left + int(hold.available / call.per_minute)
        if minutes < 1:
            return Decision(
                False, "insufficient_balance", rate_per_minute=call.per_minute, currency=currency
            )
        max_seconds = min(cap, 60 * minutes)
        decision = _allow(call, funded_by, max_seconds)
        amount = min(_cost(call.per_minute, max_seconds - 60 * pool_left, currency), hold.available)
        if amount > 0:
            reservation_open(
                hold=hold,
                code=decision.authorization_id,
                amount=amount,
                expires_at=_expiry(max_seconds),
            )
        return decision


def _cost(per_minute: Decimal, seconds: int, currency: str) -> Decimal:
    """What `seconds` of a call can cost at most: whole minutes, rounded up to the minor unit."""
    cost = per_minute * math.ceil(max(seconds, 0) / 60)
    return cost.quantize(quantum(currency), rounding=ROUND_UP)


def _expiry(seconds: int) -> datetime:
    return timezone.now() + timedelta(seconds=seconds) + RESERVATION_GRACE


def _allow(call: _Call, funded_by: str, max_seconds: int) -> Decision:
    return Decision(
        True,
        "ok",
        funded_by=funded_by,
        max_seconds=max_seconds,
        rate_per_minute=call.per_minute,
        currency=str(call.organisation.currency),
        authorization_id=call.code,
    )
