"""Builders for seat purchases: a moment to buy at, a saved card, a registered agreement."""

from __future__ import annotations

from datetime import UTC, datetime

from billing.services.agreements import agreement_register
from tests.builders import account_of


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def register(org, number: str = "EA-4500123", limit: str = "10000"):
    agreement, _ = agreement_register(account=account_of(org), number=number, credit_limit=limit)
    return agreement
