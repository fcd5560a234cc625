"""Auto-recharge settings: the amounts, what pays, and what saving them charges now.

A save that would charge at once is previewed first (`recharge_preview`); the portal asks the
admin with that exact amount and method, and `auto_recharge_save` refuses to charge anything
else than what was confirmed. When a recharge is due and how it runs is `recharge`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from billing.exceptions import BillingError, NoCredits
from billing.models import Card, CreditAccount, EnterpriseAgreement
from billing.money import format_money, parse_amount
from billing.services.agreements import agreement_active
from billing.services.cards import card_current, card_save_from_setup
from billing.services.ledger import lock_account
from billing.services.purchases import purchase_amount
from billing.services.recharge import (
    Method,
    recharge_due,
    recharge_enqueue,
    recharge_method_ready,
)


def auto_recharge_configure(
    *, account: CreditAccount, enabled: bool, trigger_amount: object, recharge_amount: object
) -> CreditAccount:
    """Validate and save the settings; enabling needs a card or an agreement to pay with."""
    trigger, amount = _settings_clean(account, trigger_amount, recharge_amount)
    with transaction.atomic():
        locked = lock_account(account)
        if enabled and not recharge_method_ready(locked):
            raise BillingError(
                "Save a card or choose an Enterprise Agreement before turning auto-recharge on.",
                field="enabled",
                conflict=True,
            )
        locked.auto_recharge_enabled = enabled
        locked.recharge_trigger = trigger
        locked.recharge_amount = amount
        locked.save(update_fields=["auto_recharge_enabled", "recharge_trigger", "recharge_amount"])
    if enabled:
        recharge_enqueue(locked)
    return locked


def _settings_clean(
    account: CreditAccount, trigger_amount: object, recharge_amount: object
) -> tuple[Decimal, Decimal]:
    NoCredits.unless_held(account.organisation, field="enabled", conflict=False)
    currency = str(account.currency)
    # Both amounts are checked before either is refused: the error names every invalid one.
    errors: dict[str, list[str]] = {}
    trigger = amount = None
    try:
        trigger = parse_amount(trigger_amount, currency, field="trigger_amount")
        high = settings.PURCHASE_MAX_AMOUNT
        if trigger > high:
            raise BillingError(
                f"The trigger amount is at most {format_money(high, currency)}.",
                field="trigger_amount",
            )
    except BillingError as exc:
        errors["trigger_amount"] = [exc.message]
    try:
        amount = purchase_amount(account, recharge_amount)
    except BillingError as exc:
        errors["recharge_amount"] = [exc.message]
    if errors:
        field, (message,) = next(iter(errors.items()))
        raise BillingError(message, field=field, errors=errors)
    return trigger, amount


@dataclass(frozen=True)
class Preview:
    """What saving auto-recharge settings charges at once, before anything is saved."""

    enabled: bool
    trigger: Decimal
    amount: Decimal
    currency: str
    method: str  # Method.CARD or Method.AGREEMENT
    method_label: str  # "the saved card Visa •••• 4242", "Enterprise Agreement EA-1"
    amount_now: Decimal | None  # None: the save charges nothing now
    capped: bool  # the charge stops at PURCHASE_MAX_AMOUNT, short of trigger + amount


def recharge_preview(
    *, account: CreditAccount, enabled: bool, trigger_amount: object, recharge_amount: object
) -> Preview:
    """What saving these settings would charge now, validated as the save validates them: the
    recharge that saving queues (`recharge_amount_due` for the new settings), or None."""
    trigger, amount = _settings_clean(account, trigger_amount, recharge_amount)
    proposed = copy.copy(account)  # never saved: the settings as they would be
    proposed.auto_recharge_enabled = enabled
    proposed.recharge_trigger, proposed.recharge_amount = trigger, amount
    amount_now = recharge_due(proposed).amount
    if account.recharge_method == Method.AGREEMENT:
        label = str(account.recharge_agreement) if account.recharge_agreement else "no agreement"
    else:
        card = card_current(account)
        label = f"the saved card {card}" if card else "no saved card"
    return Preview(
        enabled=enabled,
        trigger=trigger,
        amount=amount,
        currency=str(account.currency),
        method=str(account.recharge_method),
        method_label=label,
        amount_now=amount_now,
        capped=amount_now is not None and account.balance + amount_now < trigger + amount,
    )


class ChargeChanged(BillingError):
    """What the settings would charge now is no longer what the admin confirmed."""

    def __init__(self, preview: Preview) -> None:
        super().__init__(
            "The amount that saving would charge now has changed; check it and confirm again."
        )
        self.preview = preview


def auto_recharge_save(
    *,
    account: CreditAccount,
    enabled: bool,
    trigger_amount: object,
    recharge_amount: object,
    expected: Preview | None = None,
) -> tuple[CreditAccount, Preview]:
    """Save the settings and say what they charge now (a recharge queued after the commit).

    With `expected` (what the admin confirmed), a save that would charge anything else raises
    `ChargeChanged` and saves nothing: a confirmed charge never grows behind the admin's back.
    """
    with transaction.atomic():
        # The balance the charge is computed from stays put until the settings are saved.
        locked = lock_account(account)
        preview = recharge_preview(
            account=locked,
            enabled=enabled,
            trigger_amount=trigger_amount,
            recharge_amount=recharge_amount,
        )
        if (
            expected is not None
            and preview.amount_now is not None
            and (preview.amount_now, preview.method_label)
            != (expected.amount_now, expected.method_label)
        ):
            raise ChargeChanged(preview)
        saved = auto_recharge_configure(
            account=locked,
            enabled=enabled,
            trigger_amount=trigger_amount,
            recharge_amount=recharge_amount,
        )
    return saved, preview


def recharge_resume(*, account: CreditAccount) -> None:
    """A new card (or agreement) lifts a suspension and the back-off; the next sweep recharges."""
    CreditAccount.objects.filter(pk=account.pk).update(
        recharge_suspended_at=None,
        recharge_suspended_reason="",
        recharge_failures=0,
        recharge_retry_after=None,
    )


def recharge_card_save(*, account: CreditAccount, setup_intent_id: str) -> Card:
    """Save the card a confirmed setup intent holds; a new card lifts a suspended auto-recharge."""
    card = card_save_from_setup(account=account, setup_intent_id=setup_intent_id)
    recharge_resume(account=account)
    return card


def recharge_method_set(*, account: CreditAccount, agreement: EnterpriseAgreement | None) -> None:
    """Auto-recharge pays with the saved card (None) or is invoiced against `agreement`, which
    must be one an operator registered; choosing it lifts a suspension (e.g. its credit limit)."""
    NoCredits.unless_held(account.organisation, field="agreement")
    if agreement is not None:
        agreement = agreement_active(account=account, agreement=agreement)
    with transaction.atomic():
        locked = CreditAccount.objects.select_for_update().get(pk=account.pk)
        locked.recharge_method = (
            CreditAccount.RechargeMethod.AGREEMENT
            if agreement
            else CreditAccount.RechargeMethod.CARD
        )
        locked.recharge_agreement = agreement
        locked.save(update_fields=["recharge_method", "recharge_agreement"])
    if agreement is not None:
        recharge_resume(account=account)
