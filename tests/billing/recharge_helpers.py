from __future__ import annotations

from decimal import Decimal

from billing.models import Card
from billing.services import cards
from billing.services.contacts import billing_contact_add
from billing.services.ledger import funds_debit
from billing.services.recharge_settings import auto_recharge_configure, recharge_card_save
from tests.builders import account_of
from tests.stripe_helpers import VISA, confirm_setup


def save_card(org, number: str = VISA) -> Card:
    account = account_of(org)
    setup_id, _ = cards.card_setup_intent(account=account)
    confirm_setup(setup_id, number)
    return recharge_card_save(account=account, setup_intent_id=setup_id)


def turn_on(org, *, trigger: str = "20.00", amount: str = "50.00", number: str | None = VISA):
    if number:
        save_card(org, number)
    billing_contact_add(organisation=org, email="ap@contoso.example")
    return auto_recharge_configure(
        account=account_of(org), enabled=True, trigger_amount=trigger, recharge_amount=amount
    )


def spend(org, amount: str, reference: str):
    return funds_debit(account=account_of(org), amount=Decimal(amount), reference=reference)
