"""Parts of a page that other apps contribute (cards on Home, panels on Communications
Credits), so the page's app does not import them. A provider returns {"template", "context"}
or None (nothing for this request)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from django.http import HttpRequest

Provider = Callable[[HttpRequest], dict | None]
_slots: dict[str, list[Provider]] = defaultdict(list)


def register(slot: str, provider: Provider) -> Provider:
    _slots[slot].append(provider)
    return provider


def render_slot(slot: str, request: HttpRequest) -> list[dict]:
    return [found for provider in _slots[slot] if (found := provider(request))]
