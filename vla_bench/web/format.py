"""How numbers, intervals and dates are shown on the pages."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence

METRIC_LABELS = {"normalized_score": "normalized score", "success_rate": "success rate", "mean_return": "return"}


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def fmt_value(value: float | None, metric: str = "", digits: int | None = None) -> str:
    """A metric value: success rates as percentages, returns and scores with sensible decimals."""
    if value is None or not math.isfinite(value):
        return "–"
    if metric == "success_rate":
        return _no_negative_zero(f"{100 * value:.{1 if digits is None else digits}f}") + "%"
    if digits is None:
        digits = 1 if abs(value) >= 100 else 2
    return _no_negative_zero(f"{value:.{digits}f}")


def _no_negative_zero(text: str) -> str:
    """-0.004 shown with two decimals is "0.00", not "-0.00"."""
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def fmt_interval(ci95: Sequence[float | None] | None, metric: str = "") -> str:
    if not ci95 or ci95[0] is None or ci95[1] is None:
        return ""
    return f"[{fmt_value(ci95[0], metric)}, {fmt_value(ci95[1], metric)}]"


def fmt_estimate(estimate: Mapping[str, object] | None, metric: str = "") -> str:
    """``{"mean": m, "ci95": [low, high]}`` (a stored estimate: JSON read back) as "m [low, high]"."""
    mean = estimate.get("mean") if estimate else None
    if estimate is None or not isinstance(mean, int | float):
        return "–"
    ci95 = estimate.get("ci95")
    interval = fmt_interval(ci95 if isinstance(ci95, list | tuple) else None, metric)
    return f"{fmt_value(mean, metric)} {interval}".strip()


def fmt_signed(value: float | None, metric: str = "") -> str:
    text = fmt_value(value, metric)
    return f"+{text}" if value is not None and math.isfinite(value) and value > 0 else text


def _as_datetime(value: dt.datetime | str) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def fmt_date(value: dt.datetime | str | None) -> str:
    if value is None:
        return "–"
    parsed = _as_datetime(value)
    return parsed.strftime("%Y-%m-%d") if parsed else str(value)


def fmt_datetime(value: dt.datetime | str | None) -> str:
    if value is None:
        return "–"
    parsed = _as_datetime(value)
    if parsed is None:
        return str(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC)
    return parsed.strftime("%Y-%m-%d %H:%M UTC")


def split_description(text: str, max_chars: int = 240) -> tuple[str, str]:
    """(first sentence, the rest): long protocol descriptions open with their first sentence, the rest folds."""
    end = text.find(". ")
    if end == -1 or end + 1 > max_chars:
        return (text, "") if len(text) <= max_chars else (text[:max_chars].rsplit(" ", 1)[0] + " …", text)
    return text[: end + 1], text[end + 2:]


def fmt_p(value: float | None) -> str:
    if value is None:
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"
