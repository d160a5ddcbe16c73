"""Geometry of the inline SVG charts: interval strips on leaderboards, forest plots of per-task scores
and of paired differences. Computed here in Python so that templates only place shapes."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

NICE_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Axis:
    lo: float
    hi: float
    ticks: tuple[float, ...] = ()

    def fraction(self, value: float) -> float:
        """Position of ``value`` in [0, 1] along the axis (clamped)."""
        return min(1.0, max(0.0, (value - self.lo) / (self.hi - self.lo)))


def nice_axis(values: Iterable[float | None], *, include: Sequence[float] = (), target_ticks: int = 5) -> Axis:
    """An axis covering every finite value (and ``include``), on round tick marks."""
    finite = [v for v in (*values, *include) if v is not None and math.isfinite(v)]
    if not finite:
        return Axis(0.0, 1.0, (0.0, 0.5, 1.0))
    lo, hi = min(finite), max(finite)
    if hi - lo < 1e-12:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw_step = (hi - lo) / max(1, target_ticks)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(s * magnitude for s in NICE_STEPS if s * magnitude >= raw_step)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    count = round((hi - lo) / step)
    ticks = tuple(round(lo + i * step, 10) for i in range(count + 1))
    return Axis(lo, hi, ticks)


@dataclass(frozen=True)
class Strip:
    """One interval drawn in a box ``width`` wide: x of the low end, the high end and the mean."""

    x_low: float
    x_high: float
    x_mean: float
    width: float
    height: float


def strip(mean: float | None, low: float | None, high: float | None, axis: Axis, *, width: float = 160,
          height: float = 18, pad: float = 4) -> Strip | None:
    if mean is None or not math.isfinite(mean):
        return None
    low = mean if low is None else low
    high = mean if high is None else high
    usable = width - 2 * pad
    return Strip(x_low=pad + usable * axis.fraction(low), x_high=pad + usable * axis.fraction(high),
                 x_mean=pad + usable * axis.fraction(mean), width=width, height=height)


@dataclass(frozen=True)
class ForestRow:
    label: str
    text: str  # the value and interval as text, drawn at the right and read by screen readers
    y: float
    strip: Strip | None


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class ForestPlot:
    """Rows of intervals on one shared axis, e.g. per-task scores or paired differences."""

    width: float
    height: float
    plot_x: float  # left edge of the plotting area (after the labels)
    plot_width: float
    row_height: float
    top: float
    rows: list[ForestRow] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    reference_x: float | None = None  # e.g. the zero line of a difference
    show_text: bool = True


@dataclass(frozen=True)
class ChartPair:
    """The same chart laid out for a laptop (with the values as text) and for a phone (without: the table
    under the chart has them); CSS shows one. One layout scaled down would leave phone text unreadable."""

    wide: ForestPlot
    narrow: ForestPlot


CHAR_PX = 7.2  # average advance of a 13 px sans-serif character: enough to size label columns
WIDE_PLOT_PX = 380.0
NARROW_WIDTH_PX = 360.0
NARROW_LABEL_CHARS = 16
DENSE_ROWS = 12  # above this many rows, rows get closer together


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _shorten(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def chart_pair(rows: Sequence[tuple[str, float | None, float | None, float | None, str]], *,
               include: Sequence[float] = (), reference: float | None = None, tick_format: str = "{:g}") -> ChartPair:
    """Column widths follow the longest label and value text, so task names like
    ``button-press-topdown-wall-v3`` are not cut; the phone layout shortens labels instead."""
    longest_label = max((len(r[0]) for r in rows), default=4)
    longest_text = max((len(r[4]) for r in rows), default=4)
    label_width = _clamp(14 + CHAR_PX * longest_label, 60, 280)
    text_width = _clamp(16 + CHAR_PX * longest_text, 60, 260)
    row_height = 30.0 if len(rows) <= DENSE_ROWS else 22.0
    short = [(_shorten(r[0], NARROW_LABEL_CHARS), *r[1:]) for r in rows]
    narrow_label = _clamp(14 + CHAR_PX * min(longest_label, NARROW_LABEL_CHARS), 50, 130)
    return ChartPair(
        wide=forest_plot(rows, include=include, reference=reference, tick_format=tick_format,
                         width=label_width + WIDE_PLOT_PX + text_width, label_width=label_width,
                         text_width=text_width, row_height=row_height),
        narrow=forest_plot(short, include=include, reference=reference, tick_format=tick_format,
                           width=NARROW_WIDTH_PX, label_width=narrow_label, text_width=12, row_height=row_height),
    )


def forest_plot(rows: Sequence[tuple[str, float | None, float | None, float | None, str]], *,
                include: Sequence[float] = (), reference: float | None = None, width: float = 640,
                label_width: float = 150, text_width: float = 150, row_height: float = 30,
                tick_format: str = "{:g}") -> ForestPlot:
    """``rows``: (label, mean, low, high, text). The axis spans every interval plus ``include``;
    ``text_width`` below 40 leaves the values out."""
    axis = nice_axis([v for _, m, lo, hi, _ in rows for v in (m, lo, hi)],
                     include=(*include, *([reference] if reference is not None else [])))
    plot_width = width - label_width - text_width
    top = 8.0
    placed = []
    for index, (label, mean, low, high, text) in enumerate(rows):
        shape = strip(mean, low, high, axis, width=plot_width, height=row_height, pad=6)
        placed.append(ForestRow(label=label, text=text, y=top + index * row_height, strip=shape))
    height = top + len(rows) * row_height + 24
    usable = plot_width - 12
    ticks = [Tick(x=label_width + 6 + usable * axis.fraction(t), label=tick_format.format(t)) for t in axis.ticks]
    ref_x = label_width + 6 + usable * axis.fraction(reference) if reference is not None else None
    return ForestPlot(width=width, height=height, plot_x=label_width, plot_width=plot_width, row_height=row_height,
                      top=top, rows=placed, ticks=ticks, reference_x=ref_x, show_text=text_width >= 40)
