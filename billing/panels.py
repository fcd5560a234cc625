"""Panels other apps add to the Communications Credits page (usage adds the minute pools),
without billing importing them."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest

Panel = Callable[[HttpRequest], dict | None]
_panels: list[Panel] = []


def register_panel(panel: Panel) -> Panel:
    _panels.append(panel)
    return panel


def panels_for(request: HttpRequest) -> list[dict]:
    return [found for panel in _panels if (found := panel(request))]
