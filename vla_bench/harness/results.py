"""Typed views of a run's scores, for Python callers of ``vla_bench.evaluate`` (the JSON stays the record)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Score:
    """A number with its 95% interval: ``print(score)`` shows both, ``float(score)`` is the number."""

    metric: str
    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, metric: str, estimate: dict[str, Any] | None) -> Score | None:
        if not estimate or estimate.get("mean") is None:
            return None
        low, high = (math.nan if v is None else float(v) for v in estimate["ci95"])
        return cls(metric=metric, mean=float(estimate["mean"]), low=low, high=high)

    def __float__(self) -> float:
        return self.mean

    def __str__(self) -> str:
        if self.metric == "success_rate":
            return f"{100 * self.mean:.1f}% [{100 * self.low:.1f}, {100 * self.high:.1f}]"
        return f"{self.mean:.2f} [{self.low:.2f}, {self.high:.2f}]"


def headline(scores: dict[str, Any] | None) -> Score | None:
    """The aggregate of the primary metric (the leaderboard's score)."""
    if not scores:
        return None
    aggregate = scores["aggregate"]
    return Score.of(aggregate["metric"], aggregate.get("mean"))


def per_task(scores: dict[str, Any] | None) -> dict[str, Score]:
    if not scores:
        return {}
    metric = scores["primary_metric"]
    found = {name: Score.of(metric, task.get(metric)) for name, task in scores["tasks"].items()}
    return {name: score for name, score in found.items() if score is not None}
