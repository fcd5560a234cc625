"""The runway half of Settings › Alerts: the planner's spend rate, given to billing's alerts.

Billing checks every alert under the account's lock after each debit and credit, a runway of
`days` as a balance below `days` × the spend rate it last received. This module computes that
rate (the funding planner's pace) and hands it over: for every account with alerts on a schedule
(which also catches balances lowered by expiry, which posts no debit), and for one organisation
at once when its alerts are saved.
"""

from __future__ import annotations

from datetime import datetime

from django.dispatch import receiver
from django.utils import timezone

from billing.models import AlertKind, BalanceAlert, CreditAccount
from billing.services.balance_alerts import alerts_changed, alerts_refresh
from credits_portal.models import Organisation
from usage.services.planner import spend_pace, spend_rates


def runway_alerts_refresh_one(*, account: CreditAccount, now: datetime | None = None) -> int:
    """Give the account's alerts the current spend rate and check them: how many fired."""
    now = now or timezone.now()
    organisation = account.organisation
    has_runway = BalanceAlert.objects.filter(account=account, kind=AlertKind.RUNWAY).exists()
    pace = spend_pace(spend_rates(organisation, now)) if has_runway else None
    return len(alerts_refresh(account=account, daily_spend=pace, now=now))


def runway_alerts_refresh(*, now: datetime | None = None) -> int:
    """Every account with alerts, of organisations that hold credits, one transaction each (an
    account's lock is held only for its own check): how many alerts fired."""
    now = now or timezone.now()
    accounts = (
        CreditAccount.objects.filter(balance_alerts__isnull=False)
        .exclude(organisation__commerce=Organisation.Commerce.NEW)
        .select_related("organisation")
        .distinct()
        .order_by("pk")
    )
    return sum(runway_alerts_refresh_one(account=account, now=now) for account in accounts)


@receiver(alerts_changed)
def _alerts_saved(sender, organisation: Organisation, **kwargs) -> None:
    # A runway alert just set is checked with today's pace, not at the next sweep.
    account = CreditAccount.objects.select_related("organisation").get(organisation=organisation)
    runway_alerts_refresh_one(account=account)
