"""Trends as server-rendered SVG: the geometry here, the markup in ``components/charts.html``.

No chart library and no script: a sparkline is one polyline, the 12-month chart a polyline over
band areas with month ticks, both scaled to the health model's scale (0–100, or 0–4).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Sparkline:
    width: int
    height: int
    points: str  # "x,y x,y ..." for <polyline>
    last: tuple[float, float] | None  # the latest point, drawn as a dot
    direction: str  # "up", "down" or "flat": the last value against the first


def sparkline(values: Sequence[float], *, scale_max: float, width: int = 96, height: int = 24) -> Sparkline:
    """A sparkline of ``values`` (oldest first) on a fixed 0..scale_max axis."""
    if not values:
        return Sparkline(width, height, "", None, "flat")
    pad = 2.0
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    coords = [
        (round(pad + i * step, 1), round(height - pad - (v / scale_max) * (height - 2 * pad), 1))
        for i, v in enumerate(values)
    ]
    change = values[-1] - values[0]
    threshold = scale_max * 0.02  # 2 points on a 0–100 scale count as a move
    direction = "up" if change > threshold else "down" if change < -threshold else "flat"
    return Sparkline(width, height, " ".join(f"{x},{y}" for x, y in coords), coords[-1], direction)


@dataclass(frozen=True)
class Tick:
    x: float
    label: dt.date


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: float
    top: float
    plot_width: float
    plot_height: float
    points: str
    dots: list[tuple[float, float, dt.date, float]]
    months: list[Tick]
    levels: list[tuple[float, float]]  # (y, value) for the horizontal grid lines
    bands: list[tuple[str, float, float]]  # (band, y, height) areas behind the line


def line_chart(
    series: Sequence[tuple[dt.date, float]],
    *,
    start: dt.date,
    end: dt.date,
    scale_max: float,
    band_good: float,
    band_normal: float,
    width: int = 640,
    height: int = 180,
) -> LineChart:
    """A score-over-time chart from ``start`` to ``end`` with good/normal/bad areas."""
    left, top, right, bottom = 36.0, 8.0, 8.0, 22.0
    plot_w, plot_h = width - left - right, height - top - bottom
    span = max((end - start).days, 1)

    def x_of(day: dt.date) -> float:
        return round(left + (day - start).days / span * plot_w, 1)

    def y_of(value: float) -> float:
        clamped = min(max(value, 0.0), scale_max)
        return round(top + plot_h - clamped / scale_max * plot_h, 1)

    dots = [(x_of(d), y_of(v), d, v) for d, v in series if start <= d <= end]
    months = []
    cursor = dt.date(start.year, start.month, 1)
    while cursor <= end:
        if cursor >= start:
            months.append(Tick(x_of(cursor), cursor))
        cursor = dt.date(cursor.year + (cursor.month == 12), cursor.month % 12 + 1, 1)
    levels = [(y_of(scale_max * f), scale_max * f) for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
    bands = [
        ("good", y_of(scale_max), y_of(band_good) - y_of(scale_max)),
        ("normal", y_of(band_good), y_of(band_normal) - y_of(band_good)),
        ("bad", y_of(band_normal), y_of(0.0) - y_of(band_normal)),
    ]
    return LineChart(
        width,
        height,
        left,
        top,
        plot_w,
        plot_h,
        " ".join(f"{x},{y}" for x, y, _, _ in dots),
        dots,
        months,
        levels,
        bands,
    )


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int  # which series of the group (0: before, 1: after …)
    value: float


@dataclass(frozen=True)
class BarGroup:
    label: str
    x: float  # the group's centre, for its label
    bars: list[Bar]


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    top: float
    plot_height: float
    baseline: float
    groups: list[BarGroup]
    levels: list[tuple[float, float]]  # (y, value) for the horizontal grid lines


def bar_chart(
    groups: Sequence[tuple[str, Sequence[float | None]]],
    *,
    maximum: float,
    minimum: float = 0.0,
    width: int = 480,
    height: int = 160,
) -> BarChart:
    """Grouped bars (e.g. the AUC before and after a calibration at each horizon) on a fixed
    ``minimum``..``maximum`` axis; a missing value draws no bar."""
    left, top, right, bottom = 36.0, 8.0, 8.0, 22.0
    plot_w, plot_h = width - left - right, height - top - bottom
    span = maximum - minimum or 1.0

    def y_of(value: float) -> float:
        clamped = min(max(value, minimum), maximum)
        return round(top + plot_h - (clamped - minimum) / span * plot_h, 1)

    slot = plot_w / max(len(groups), 1)
    out = []
    for i, (label, values) in enumerate(groups):
        n = max(len(values), 1)
        bar_w = round(slot * 0.7 / n, 1)
        start = left + i * slot + slot * 0.15
        bars = [
            Bar(round(start + k * bar_w, 1), y_of(v), bar_w, round(y_of(minimum) - y_of(v), 1), k, v)
            for k, v in enumerate(values)
            if v is not None
        ]
        out.append(BarGroup(label, round(left + (i + 0.5) * slot, 1), bars))
    levels = [(y_of(minimum + span * f), minimum + span * f) for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
    return BarChart(width, height, top, plot_h, y_of(minimum), out, levels)
