"""Small, loud readers for settings that come from the environment.

Each `NAME` may instead be given as `NAME_FILE`, a path whose contents are the value (Docker and
Kubernetes secrets). A value that cannot be read as the asked type stops start-up with a message
naming the variable, rather than running with a guess.
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    if name in os.environ:
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {exc}") from exc
    return default


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name)
    if value is None:
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off, not {value!r}"
    )


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_int_list(name: str, default: list[int]) -> list[int]:
    """A comma-separated list of whole numbers, zero or more, at least one of them."""
    value = env_str(name)
    if value is None or value.strip() == "":
        return default
    items = [item.strip() for item in value.split(",")]
    if not all(item.isdigit() for item in items):
        raise ImproperlyConfigured(
            f"{name} must be whole numbers separated by commas, such as 1,6,24, not {value!r}"
        )
    return [int(item) for item in items]


def env_decimal(name: str, default: str) -> Decimal:
    value = env_str(name) or default
    try:
        return Decimal(value)
    except InvalidOperation as exc:
        raise ImproperlyConfigured(f"{name} must be a decimal number, not {value!r}") from exc


def env_float(name: str, default: float) -> float:
    value = env_str(name)
    if value is None or value.strip() == "":
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from exc
