"""Typed views of a run's scores, for Python callers of ``vla_bench.evaluate`` (the JSON stays the record)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vla_bench.spec.summary import Estimate, Scores


@dataclass(frozen=True)
class Score:
    """A number with its 95% interval: ``print(score)`` shows both, ``float(score)`` is the number."""

    metric: str
    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, metric: str, estimate: Estimate | None) -> Score | None:
        if estimate is None or estimate.mean is None:
            return None
        low, high = (math.nan if v is None else float(v) for v in estimate.ci95)
        return cls(metric=metric, mean=float(estimate.mean), low=low, high=high)

    def __float__(self) -> float:
        return self.mean

    def __str__(self) -> str:
        if self.metric == "success_rate":
            return f"{100 * self.mean:.1f}% [{100 * self.low:.1f}, {100 * self.high:.1f}]"
        return f"{self.mean:.2f} [{self.low:.2f}, {self.high:.2f}]"


def headline(scores: Scores | None) -> Score | None:
    """The aggregate of the primary metric (the leaderboard's score)."""
    if scores is None:
        return None
    return Score.of(scores.aggregate.metric, scores.aggregate.mean)


def per_task(scores: Scores | None) -> dict[str, Score]:
    if scores is None:
        return {}
    metric = scores.primary_metric
    found = {name: Score.of(metric, task.estimate(metric)) for name, task in scores.tasks.items()}
    return {name: score for name, score in found.items() if score is not None}
