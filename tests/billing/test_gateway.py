"""The gateway interface: the services talk to a `PaymentGateway`, never to Stripe's SDK."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest

from billing import gateway
from billing.services import cards
from tests.billing.recharge_helpers import save_card
from tests.builders import account_of

SERVICES = Path(__file__).resolve().parents[2] / "billing" / "services"


@pytest.mark.parametrize("module", sorted(p.name for p in SERVICES.glob("*.py")))
def test_no_service_imports_a_gateway_sdk(module):
    tree = ast.parse((SERVICES / module).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name == "stripe" or "stripe_gateway" in name}


@pytest.mark.django_db
def test_the_stripe_gateway_answers_plain_dataclasses(org):
    card = save_card(org)
    payment = cards.payment_start(account=account_of(org), amount="20", form_token=uuid.uuid4())
    payment = cards.payment_charge(payment=payment, card=card)
    answer = gateway.active().payment_retrieve(payment.stripe_payment_intent_id)
    assert isinstance(answer, gateway.GatewayPayment)
    assert (answer.id, answer.status, answer.amount_minor, answer.currency) == (
        payment.stripe_payment_intent_id,
        gateway.PaymentStatus.SUCCEEDED,
        2000,
        "USD",
    )
    assert answer.customer == account_of(org).stripe_customer_id
    assert answer.payment_method == card.stripe_payment_method_id
    assert answer.metadata == {"payment": str(payment.code), "organisation": org.slug}
    with pytest.raises(gateway.NotFound):
        gateway.active().payment_retrieve("pi_unknown0000000000000000")
