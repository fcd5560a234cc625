"""May this call start, and for how long? (POST /api/v1/calls/authorize)

Pool minutes first, then credits for legacy-commerce users holding Communications Credits,
overage for new-commerce organisations, otherwise a refusal with its reason. A credit-funded call
reserves what its `max_seconds` can cost under the account's row lock, so concurrent calls never
together reserve more than the available balance.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_UP, Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from billing.money import quantum
from billing.services.reservations import account_held, funds_available, reservation_open
from credits_portal.models import Organisation
from licensing.selectors import Holder, holder_of
from licensing.services import effective_skus
from usage.models import FundedBy
from usage.services import rating
from usage.services.pools import month_of, pool_state
from usage.services.rates import country_of, rate_for

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
    currency = str(organisation.currency)
    refused = Decision(False, "", currency=currency)
    user = holder_of(organisation_id=organisation.pk, upn=upn)
    if user is None:
        refused.reason = "unknown_user"
        return refused
    skus = effective_skus(user.skus, rating.products())
    if reason := rating.license_refusal(call_type, skus):
        refused.reason = reason
        return refused
    rate = rate_for(currency, call_type, to)
    if rate is None:
        refused.reason = "destination_not_rated"
        return refused
    per_minute = rate.rate_per_unit
    refused.rate_per_minute = per_minute
    category = rating.category_of(call_type, user.usage_location, country_of(to))
    pool_left = 0
    if rating.plan_covers(category, skus):
        pool_left = pool_state(
            organisation, category, user.usage_location, month_of(timezone.now())
        ).left
    beyond = rating.after_pool(organisation, skus)
    if pool_left == 0 and beyond is None:
        refused.reason = "no_credits_license"
        return refused
    call = _Call(organisation, user, call_type, to, from_, per_minute)
    paid_by_credits = beyond == FundedBy.CREDITS and per_minute > 0
    if paid_by_credits and pool_left == 0:
        return _credit_funded(call)
    if paid_by_credits:
        # The pool pays first: nothing is held, the credits only lengthen the call.
        credit_minutes = int(funds_available(organisation_id=organisation.pk) / per_minute)
    else:
        # Overage has no ceiling and a free destination costs nothing: only the cap limits it.
        credit_minutes = 0 if beyond is None else math.inf
    max_seconds = int(min(settings.AUTHORIZATION_MAX_SECONDS, 60 * (pool_left + credit_minutes)))
    funded_by = FundedBy.PLAN_MINUTES if pool_left else beyond
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")  # a log row, see account_held
        return _allow(call, funded_by, max_seconds, Decimal(0))


@dataclass
class _Call:
    organisation: Organisation
    user: Holder
    type: str
    to: str
    from_: str
    per_minute: Decimal


def _credit_funded(call: _Call) -> Decision:
    currency = str(call.organisation.currency)
    with account_held(call.organisation.pk) as hold:
        minutes = int(hold.available / call.per_minute)
        if minutes < 1:
            return Decision(
                False, "insufficient_balance", rate_per_minute=call.per_minute, currency=currency
            )
        max_seconds = min(settings.AUTHORIZATION_MAX_SECONDS, 60 * minutes)
        # What the longest allowed call can cost, rounded up to the cent, never above the funds.
        cost = call.per_minute * math.ceil(max_seconds / 60)
        amount = min(cost.quantize(quantum(currency), rounding=ROUND_UP), hold.available)
        decision = _allow(call, FundedBy.CREDITS, max_seconds, amount)
        reservation_open(
            hold=hold,
            code=decision.authorization_id,
            amount=amount,
            expires_at=timezone.now() + timedelta(seconds=max_seconds) + RESERVATION_GRACE,
        )
        return decision


_AUTHORIZATION_SQL = """
INSERT INTO usage_authorization (code, organisation_id, user_id, type, to_number, from_number,
    funded_by, max_seconds, rate_per_minute, reserved, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


def _allow(call: _Call, funded_by: str, max_seconds: int, hold: Decimal) -> Decision:
    code = f"auth_{secrets.token_hex(12)}"
    with connection.cursor() as cursor:
        cursor.execute(
            _AUTHORIZATION_SQL,
            [
                code,
                call.organisation.pk,
                call.user.id,
                call.type,
                call.to,
                call.from_,
                funded_by,
                max_seconds,
                call.per_minute,
                hold,
                timezone.now(),
            ],
        )
    return Decision(
        True,
        "ok",
        funded_by=funded_by,
        max_seconds=max_seconds,
        rate_per_minute=call.per_minute,
        currency=str(call.organisation.currency),
        authorization_id=code,
    )
