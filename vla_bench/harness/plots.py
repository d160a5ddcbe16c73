"""The run folder's plots (PNG, matplotlib's Agg backend: no display needed).

* ``tasks.png``: one bar per task of the primary metric with its 95% interval;
* ``returns.png`` / ``lengths.png``: histograms of episode returns and lengths;
* ``success_by_step.png`` (protocols with success): the share of episodes that had succeeded by each step of
  the step budget, with the budget marked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.protocol import PrimaryMetric
from vla_bench.spec.summary import Estimate, Scores, TaskScores

if TYPE_CHECKING:
    from matplotlib.figure import Figure

METRIC_AXIS = {"normalized_score": "normalized score", "success_rate": "success rate (%)",
               "mean_return": "return", "average_length": "average length (subtasks)"}


def _agg() -> None:
    """matplotlib on its Agg backend (imported only when a run folder is written)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")


def _estimate(task: TaskScores, metric: PrimaryMetric) -> Estimate | None:
    estimates = {"normalized_score": task.normalized_score, "success_rate": task.success_rate,
                 "mean_return": task.mean_return, "average_length": task.average_length}
    return estimates[metric]


def task_bars(protocol: Protocol, scores: Scores, path: Path) -> int:
    """Bars of the primary metric per task with 95% interval whiskers; returns the number of bars."""
    _agg()
    import matplotlib.pyplot as plt  # noqa: PLC0415

    metric = protocol.primary_metric
    scale = 100.0 if metric == "success_rate" else 1.0
    names, means, lows, highs = [], [], [], []
    for name, task in scores.tasks.items():
        estimate = _estimate(task, metric)
        if estimate is None or estimate.mean is None:
            continue
        mean = scale * estimate.mean
        low, high = (scale * v if v is not None else mean for v in estimate.ci95)
        names.append(name)
        means.append(mean)
        lows.append(max(mean - low, 0.0))
        highs.append(max(high - mean, 0.0))
    width = min(max(4.0, 0.45 * len(names) + 2.0), 40.0)
    figure, axis = plt.subplots(figsize=(width, 3.6), dpi=100)
    positions = np.arange(len(names))
    axis.bar(positions, means, yerr=[lows, highs], capsize=3, color="#4878a8", ecolor="#222222")
    axis.set_xticks(positions, names, rotation=45 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center",
                    fontsize=8)
    axis.set_ylabel(METRIC_AXIS[metric])
    axis.set_title(f"{protocol.id}: per task, 95% intervals", fontsize=10)
    axis.grid(axis="y", alpha=0.3)
    _save(figure, path)
    return len(names)


def histogram(values: Sequence[float], label: str, title: str, path: Path) -> None:
    _agg()
    import matplotlib.pyplot as plt  # noqa: PLC0415

    finite = [v for v in values if math.isfinite(v)]
    figure, axis = plt.subplots(figsize=(5.0, 3.2), dpi=100)
    axis.hist(finite, bins=min(30, max(5, len(finite) // 3)) if finite else 1, color="#6a9f58")
    axis.set_xlabel(label)
    axis.set_ylabel("episodes")
    axis.set_title(title, fontsize=10)
    _save(figure, path)


def success_by_step(records: Sequence[EpisodeRecord], max_steps: int, path: Path) -> None:
    _agg()
    import matplotlib.pyplot as plt  # noqa: PLC0415

    steps = np.sort([r.success_step for r in records if r.success and not r.error and r.success_step is not None])
    grid = np.arange(0, max_steps + 1)
    share = np.searchsorted(steps, grid, side="right") / max(len(records), 1)
    figure, axis = plt.subplots(figsize=(5.0, 3.2), dpi=100)
    axis.step(grid, 100 * share, where="post", color="#a84848")
    axis.axvline(max_steps, linestyle="--", color="#888888", label="step budget")
    axis.set_xlabel("step")
    axis.set_ylabel("episodes succeeded (%)")
    axis.set_ylim(0, 100)
    axis.set_title("success over the step budget", fontsize=10)
    axis.legend(loc="lower right", fontsize=8)
    _save(figure, path)


def _save(figure: Figure, path: Path) -> None:
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure.tight_layout()
    figure.savefig(path, format="png")
    plt.close(figure)


def write_plots(directory: Path, protocol: Protocol, scores: Scores,
                records: Sequence[EpisodeRecord]) -> list[Path]:
    """Every plot of a run into ``directory``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "tasks.png"]
    task_bars(protocol, scores, written[0])
    histogram([r.total_return for r in records], "episode return", "returns", directory / "returns.png")
    histogram([float(r.length) for r in records], "episode length (steps)", "lengths", directory / "lengths.png")
    written += [directory / "returns.png", directory / "lengths.png"]
    if protocol.has_success:
        success_by_step(records, protocol.max_steps, directory / "success_by_step.png")
        written.append(directory / "success_by_step.png")
    return written
