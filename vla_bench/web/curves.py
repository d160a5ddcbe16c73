"""Geometry of training curves: one small line chart per logged measure against the training step, as inline
SVG like the other charts (``charts.py``): computed here, placed by the template, no script."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vla_bench.web.charts import Axis, nice_axis

MAX_POINTS = 400  # per curve: more points than a 300 px panel can show only make the page heavier
WIDTH = 300.0
HEIGHT = 170.0
LEFT, RIGHT, TOP, BOTTOM = 52.0, 10.0, 10.0, 26.0


@dataclass(frozen=True)
class AxisTick:
    at: float  # x for the step axis, y for the value axis
    label: str


@dataclass(frozen=True)
class CurvePanel:
    """One measure: a polyline of (step, value) in a ``WIDTH`` x ``HEIGHT`` box."""

    name: str
    points: str  # SVG polyline points "x,y x,y ..."
    x_ticks: tuple[AxisTick, ...]
    y_ticks: tuple[AxisTick, ...]
    n_logged: int  # rows where the measure has a value (before thinning)
    last: str  # the last logged value, as text (also the chart's accessible summary)
    width: float = WIDTH
    height: float = HEIGHT
    plot_left: float = LEFT
    plot_right: float = WIDTH - RIGHT
    plot_top: float = TOP
    plot_bottom: float = HEIGHT - BOTTOM


def thin(points: Sequence[tuple[float, float]], limit: int = MAX_POINTS) -> list[tuple[float, float]]:
    """At most ``limit`` points, evenly strided, always keeping the first and the last."""
    if len(points) <= limit:
        return list(points)
    stride = (len(points) - 1) / (limit - 1)
    return [points[round(i * stride)] for i in range(limit)]


def step_label(step: float) -> str:
    """Steps as 500, 20k, 1.5M."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(step) >= scale:
            return f"{step / scale:g}{suffix}"
    return f"{step:g}"


def value_label(value: float) -> str:
    return f"{value:.3g}"


def curve_panel(name: str, points: Sequence[tuple[float, float]]) -> CurvePanel | None:
    """The panel of one measure, or None when it was never logged."""
    finite = [(s, v) for s, v in points if math.isfinite(s) and math.isfinite(v)]
    if not finite:
        return None
    shown = thin(finite)
    x_axis = nice_axis([s for s, _ in shown], target_ticks=3)
    y_axis = nice_axis([v for _, v in shown], target_ticks=4)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(step: float) -> float:
        return LEFT + plot_w * x_axis.fraction(step)

    def y(value: float) -> float:
        return TOP + plot_h * (1.0 - y_axis.fraction(value))

    coords = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in shown)
    if len(shown) == 1:  # one logged row: a short flat stroke, so the value is visible
        coords = f"{x(shown[0][0]) - 3:.1f},{y(shown[0][1]):.1f} {x(shown[0][0]) + 3:.1f},{y(shown[0][1]):.1f}"
    return CurvePanel(
        name=name, points=coords,
        x_ticks=_ticks(x_axis, x, step_label), y_ticks=_ticks(y_axis, y, value_label),
        n_logged=len(finite), last=value_label(finite[-1][1]),
    )


def _ticks(axis: Axis, place: Callable[[float], float], label: Callable[[float], str]) -> tuple[AxisTick, ...]:
    return tuple(AxisTick(at=place(t), label=label(t)) for t in axis.ticks)


def curve_panels(series: Sequence[tuple[str, Sequence[tuple[float, float]]]]) -> list[CurvePanel]:
    """One panel per measure that has at least one value, in the log's column order."""
    return [panel for name, points in series if (panel := curve_panel(name, points)) is not None]
