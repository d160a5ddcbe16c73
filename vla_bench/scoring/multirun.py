"""Scores of an entry made of several training runs (seeds) of one method on one protocol, as rliable argues.

Each run contributes one score per task (the mean of its episodes' primary metric), giving a runs x tasks
matrix. The mean is over all its cells; the IQM is rliable's ``aggregate_iqm``, the 25%-trimmed mean of the
flattened matrix; their 95% intervals come from rliable's stratified bootstrap, which resamples runs with
replacement independently within each task. With one run there is nothing to resample over runs: use
``scoring.compute_scores`` (which resamples episodes) instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from vla_bench.scoring.scores import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    CONFIDENCE,
    IQM_TRIM,
    episode_score,
    iqm_note,
)
from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.errors import UserError
from vla_bench.spec.protocol import PrimaryMetric


def score_matrix(protocol: Protocol, runs: Sequence[Sequence[EpisodeRecord]]) -> NDArray[np.float64]:
    """runs x tasks matrix of per-task scores; every run must cover every task."""
    matrix = np.full((len(runs), len(protocol.tasks)), np.nan)
    for r, records in enumerate(runs):
        for t, task in enumerate(protocol.task_names):
            values = [episode_score(protocol, rec) for rec in records if rec.task == task]
            if not values:
                raise UserError(f"run {r + 1} has no episodes of task {task!r}: every run must cover every task")
            matrix[r, t] = float(np.mean(values))
    return matrix


def _iqm(values: NDArray[np.float64], axis: int) -> NDArray[np.float64]:
    return np.asarray(stats.trim_mean(values, IQM_TRIM, axis=axis))


def stratified_run_bootstrap(matrix: NDArray[np.float64], resamples: int = BOOTSTRAP_RESAMPLES,
                             ) -> dict[str, tuple[float, float]]:
    """Percentile intervals of the mean and the IQM, resampling runs within each task (rliable)."""
    runs, tasks = matrix.shape
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    picks = rng.integers(0, runs, size=(resamples, runs, tasks))
    resampled = matrix[picks, np.arange(tasks)].reshape(resamples, runs * tasks)
    tail = 100 * (1 - CONFIDENCE) / 2
    out = {}
    for name, values in (("mean", resampled.mean(axis=1)), ("iqm", _iqm(resampled, axis=1))):
        low, high = np.percentile(values, [tail, 100 - tail])
        out[name] = (float(low), float(high))
    return out


class RunsEstimate(TypedDict):
    mean: float
    ci95: list[float]


class MultirunJson(TypedDict):
    """A multi-run entry's score (what the board shows and the server caches)."""

    metric: PrimaryMetric
    n_runs: int
    n_tasks: int
    task_scores: list[list[float]]  # runs x tasks
    mean: RunsEstimate
    iqm: RunsEstimate | None
    iqm_note: str | None
    interval_method: str


def multirun_aggregate(protocol: Protocol, runs: Sequence[Sequence[EpisodeRecord]]) -> MultirunJson:
    if len(runs) < 2:
        raise UserError("a multi-run score needs at least 2 runs; one run is scored by compute_scores")
    matrix = score_matrix(protocol, runs)
    intervals = stratified_run_bootstrap(matrix)
    note = iqm_note(matrix.size)
    mean = float(matrix.mean())
    iqm = float(_iqm(matrix.reshape(-1), axis=0))
    return {
        "metric": protocol.primary_metric, "n_runs": len(runs), "n_tasks": len(protocol.tasks),
        "task_scores": matrix.tolist(),
        "mean": {"mean": mean, "ci95": list(intervals["mean"])},
        "iqm": None if note else {"mean": iqm, "ci95": list(intervals["iqm"])},
        "iqm_note": note,
        "interval_method": "stratified bootstrap over runs within tasks (rliable), percentile 95%",
    }
