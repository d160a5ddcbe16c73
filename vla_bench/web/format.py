"""How numbers, intervals and dates are shown on the pages."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

METRIC_LABELS = {"normalized_score": "normalized score", "success_rate": "success rate", "mean_return": "return"}


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def fmt_value(value: float | None, metric: str = "", digits: int | None = None) -> str:
    """A metric value: success rates as percentages, returns and scores with sensible decimals."""
    if value is None or not math.isfinite(value):
        return "–"
    if metric == "success_rate":
        return f"{100 * value:.{1 if digits is None else digits}f}%"
    if digits is None:
        digits = 1 if abs(value) >= 100 else 2
    return f"{value:.{digits}f}"


def fmt_interval(ci95: Sequence[float | None] | None, metric: str = "") -> str:
    if not ci95 or ci95[0] is None or ci95[1] is None:
        return ""
    return f"[{fmt_value(ci95[0], metric)}, {fmt_value(ci95[1], metric)}]"


def fmt_estimate(estimate: dict[str, Any] | None, metric: str = "") -> str:
    if not estimate or estimate.get("mean") is None:
        return "–"
    interval = fmt_interval(estimate.get("ci95"), metric)
    return f"{fmt_value(estimate['mean'], metric)} {interval}".strip()


def fmt_signed(value: float | None, metric: str = "") -> str:
    text = fmt_value(value, metric)
    return f"+{text}" if value is not None and math.isfinite(value) and value > 0 else text


def fmt_date(value: dt.datetime | str | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.strftime("%Y-%m-%d")


def fmt_datetime(value: dt.datetime | str | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def fmt_p(value: float | None) -> str:
    if value is None:
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"
