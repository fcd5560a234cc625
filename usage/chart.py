"""The report's chart, drawn on the server as SVG: bars of credit spend against a left axis,
a line of minutes (or messages) against a right axis, dates along the bottom; each bar can be
focused from the keyboard and names its period and values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

WIDTH, HEIGHT = 960, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 56, 12, 28  # room for the axes' labels
MAX_DATE_LABELS = 8


@dataclass
class Chart:
    width: int
    height: int
    bars: list[dict]
    line: str
    max_spend: Decimal
    max_units: int
    unit: str
    plot: dict  # the plotting area: left, top, right, bottom
    y_ticks: list[dict]  # y, spend (left axis), units (right axis)
    x_labels: list[dict]  # x, text


def _label(day: date, unit: str) -> str:
    if unit == "month":
        return f"{day:%b %Y}"
    if unit == "week":
        return f"Week of {day:%Y-%m-%d}"
    return f"{day:%Y-%m-%d}"


def _short(day: date, unit: str) -> str:
    return f"{day:%b %Y}" if unit == "month" else f"{day:%d %b}"


def _nice(top: Decimal | int) -> Decimal:
    """The axis' top: the next 1, 2 or 5 times a power of ten at or above `top` (never 0)."""
    top = Decimal(top)
    if top <= 0:
        return Decimal(1)
    power = Decimal(10) ** (top.adjusted())
    for step in (1, 2, 5, 10):
        if top <= step * power:
            return step * power
    return 10 * power  # pragma: no cover (10 × power always holds)


def report_chart(series: list[tuple[date, Decimal, int]], *, unit: str) -> Chart:
    """The chart of `series` ((first day, spend, units) per `unit`), with axes and labels."""
    left, top, right, bottom = LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM
    span_x, span_y = right - left, bottom - top
    max_spend = max((s for _d, s, _u in series), default=Decimal(0))
    max_units = max((u for _d, _s, u in series), default=0)
    spend_top, units_top = _nice(max_spend), int(_nice(max_units))
    step = span_x / max(len(series), 1)
    bars, points = [], []
    for n, (day, spend, units) in enumerate(series):
        height = float(spend / spend_top) * span_y
        x = left + n * step
        bars.append(
            {
                "x": round(x + step * 0.1, 1),
                "y": round(bottom - height, 1),
                "w": round(max(step * 0.8, 1), 1),
                "h": round(height, 1),
                "day": day,
                "label": _label(day, unit),
                "spend": spend,
                "units": units,
            }
        )
        y = bottom - units / units_top * span_y
        points.append(f"{round(x + step / 2, 1)},{round(y, 1)}")
    every = max(1, -(-len(series) // MAX_DATE_LABELS))  # ceil: at most MAX_DATE_LABELS labels
    x_labels = [
        {"x": round(left + n * step + step / 2, 1), "text": _short(day, unit)}
        for n, (day, _s, _u) in enumerate(series)
        if n % every == 0
    ]
    y_ticks = [
        {
            "y": round(bottom - span_y * fraction, 1),
            "spend": spend_top * Decimal(fraction),
            "units": round(units_top * fraction),
        }
        for fraction in (0, 0.25, 0.5, 0.75, 1)
    ]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        line=" ".join(points),
        max_spend=max_spend,
        max_units=max_units,
        unit=unit,
        plot={"left": left, "top": top, "right": right, "bottom": bottom, "height": span_y},
        y_ticks=y_ticks,
        x_labels=x_labels,
    )
