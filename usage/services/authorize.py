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
from django.db import transaction
from django.utils import timezone

from billing.money import quantum
from billing.services.ledger import account_for, lock_account_of
from billing.services.reservations import available, reservation_open
from credits_portal.models import Organisation
from licensing.models import DirectoryUser
from usage.models import Authorization, FundedBy
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
    user = DirectoryUser.objects.filter(organisation=organisation, upn=upn.strip().lower()).first()
    if user is None:
        refused.reason = "unknown_user"
        return refused
    skus = rating.licenses_of([user])[user.pk]
    if reason := rating.license_refusal(call_type, skus):
        refused.reason = reason
        return refused
    rate = rate_for(currency, call_type, to)
    if rate is None:
        refused.reason = "destination_not_rated"
        return refused
    per_minute = rate.rate_per_unit
    refused.rate_per_minute = per_minute
    category = rating.category_of(call_type, user.usage_location.code, country_of(to))
    pool_left = 0
    if rating.plan_covers(category, skus):
        pool_left = pool_state(
            organisation, category, user.usage_location.code, month_of(timezone.now())
        ).left
    beyond = rating.after_pool(organisation, skus)
    cap = settings.AUTHORIZATION_MAX_SECONDS
    if pool_left == 0 and beyond is None:
        refused.reason = "no_credits_license"
        return refused
    if pool_left == 0 and beyond == FundedBy.CREDITS and per_minute > 0:
        return _credit_funded(organisation, user, call_type, to, from_, per_minute, cap)
    if beyond == FundedBy.CREDITS and per_minute > 0:
        credit_minutes = int(available(account_for(organisation)) / per_minute)
    elif beyond is not None:
        credit_minutes = math.inf  # overage has no ceiling; free destinations cost nothing
    else:
        credit_minutes = 0
    max_seconds = int(min(cap, 60 * (pool_left + credit_minutes)))
    funded_by = FundedBy.PLAN_MINUTES if pool_left else beyond
    return _allow(
        organisation, user, call_type, to, from_, funded_by, max_seconds, per_minute, Decimal(0)
    )


def _credit_funded(
    organisation, user, call_type, to, from_, per_minute: Decimal, cap: int
) -> Decision:
    currency = str(organisation.currency)
    with transaction.atomic():
        # The lock makes "check available, then reserve" one step for concurrent calls.
        account = lock_account_of(organisation)
        funds = available(account)
        minutes = int(funds / per_minute)
        if minutes < 1:
            return Decision(
                False, "insufficient_balance", rate_per_minute=per_minute, currency=currency
            )
        max_seconds = min(cap, 60 * minutes)
        # What the longest allowed call can cost, rounded up to the cent, never above the funds.
        cost = per_minute * math.ceil(max_seconds / 60)
        hold = min(cost.quantize(quantum(currency), rounding=ROUND_UP), funds)
        decision = _allow(
            organisation,
            user,
            call_type,
            to,
            from_,
            FundedBy.CREDITS,
            max_seconds,
            per_minute,
            hold,
        )
        reservation_open(
            locked_account=account,
            code=decision.authorization_id,
            amount=hold,
            expires_at=timezone.now() + timedelta(seconds=max_seconds) + RESERVATION_GRACE,
        )
        return decision


def _allow(
    organisation, user, call_type, to, from_, funded_by, max_seconds, per_minute, hold
) -> Decision:
    code = f"auth_{secrets.token_hex(12)}"
    Authorization.objects.create(
        code=code,
        organisation=organisation,
        user=user,
        type=call_type,
        to_number=to,
        from_number=from_,
        funded_by=funded_by,
        max_seconds=max_seconds,
        rate_per_minute=per_minute,
        reserved=hold,
    )
    return Decision(
        True,
        "ok",
        funded_by=funded_by,
        max_seconds=max_seconds,
        rate_per_minute=per_minute,
        currency=str(organisation.currency),
        authorization_id=code,
    )
