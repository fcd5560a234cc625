"""Cards on the Home page, contributed by the apps without this app importing them."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest

# Each provider returns {"template": …, "context": {…}} or None (nothing to show to this role).
CardProvider = Callable[[HttpRequest], dict | None]
_providers: list[CardProvider] = []


def register_card(provider: CardProvider) -> CardProvider:
    _providers.append(provider)
    return provider


def cards_for(request: HttpRequest) -> list[dict]:
    return [card for provider in _providers if (card := provider(request))]
