"""Scores from per-episode records: the one scoring function of vla-bench (the server calls it too).

Per task: mean return (Student-t 95% interval), D4RL-normalized score ``100*(R-min)/(max-min)`` where the
protocol has constants (REFERENCE.md §1.1-1.2; mean of normalized == normalized of mean, the map is affine),
success rate with a Wilson 95% interval, completion time (steps to success) and action smoothness.
Aggregate over tasks: mean of the task scores and their IQM with stratified-bootstrap 95% intervals, as rliable
does (resample episodes within each task); ``scipy.stats.bootstrap`` with one sample per task gives the
same intervals ~150x faster (PLATFORM.md). The bootstrap RNG is fixed, so a score recomputed from the same
episodes is the same number. The IQM is rliable's ``aggregate_iqm``: the 25%-trimmed mean of the per-task
scores (runs x tasks when an entry has several training runs, see ``multirun``), never of pooled episode
outcomes, which on 0/1 success metrics is degenerate. It is withheld, with the reason, below
``IQM_MIN_SCORES`` scores: a 25% trim of fewer than 4 values cuts nothing and just repeats the mean. A
single-task protocol's headline is its task's own interval (Student t, or Wilson for success), so the
headline and the per-task table never disagree.

Chain protocols (CALVIN's LH-MTLC, REFERENCE.md 5.1) add per task the success rate for at least i
consecutive completed subtasks, i = 1..K, each with a Wilson interval, and the average length (mean number
of completed subtasks, 0..K, with a Student-t interval), which is their primary metric; as in CALVIN's
``count_success``/``print_and_save``, the average length equals the sum of the K rates.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vla_bench.spec import EpisodeRecord, Protocol, TaskDef
from vla_bench.spec.summary import (
    AggregateJson,
    ChainPartJson,
    ChainScoresJson,
    EstimateJson,
    ScoresJson,
    TaskScoresHeadJson,
    TaskScoresJson,
)

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 5000
BOOTSTRAP_SEED = 0
IQM_TRIM = 0.25  # rliable's aggregate_iqm: 25% trimmed mean
IQM_MIN_SCORES = 4  # below this a 25% trim removes nothing (floor(0.25 n) == 0)
INTERVAL_BOOTSTRAP = "stratified bootstrap over episodes within tasks, percentile 95%"


def _stats() -> Any:
    """``scipy.stats``, imported when a score is computed: it takes ~1 s to import, which ``vla-bench eval``
    would otherwise pay before its first env step (this module is imported with the bundle writer)."""
    from scipy import stats  # noqa: PLC0415

    return stats


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    if n == 0:
        return (float("nan"), float("nan"))
    z = float(_stats().norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact bounds, not rounding noise
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Mean with a Student-t interval; a single value (or no spread) gives a zero-width interval."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return (float("nan"), float("nan"), float("nan"))
    mean = float(array.mean())
    if array.size == 1 or np.all(array == array[0]):
        return (mean, mean, mean)
    half = float(_stats().t.ppf(0.5 + confidence / 2, array.size - 1) * array.std(ddof=1) / math.sqrt(array.size))
    return (mean, mean - half, mean + half)


def normalize(task: TaskDef, total_return: float) -> float | None:
    norm = task.normalization
    if norm is None:
        return None
    return 100.0 * (total_return - norm.ref_min) / (norm.ref_max - norm.ref_min)


def episode_score(protocol: Protocol, record: EpisodeRecord) -> float:
    """The per-episode value of the protocol's primary metric. An errored episode scores as a failure:
    0 success, and for returns the return it had reached when it failed."""
    if protocol.primary_metric == "success_rate":
        return 1.0 if record.success and not record.error else 0.0
    if protocol.primary_metric == "average_length":
        return float(completed_subtasks(record))
    value = record.total_return if math.isfinite(record.total_return) else 0.0
    if protocol.primary_metric == "normalized_score":
        normalized = normalize(protocol.task(record.task), value)
        assert normalized is not None  # Protocol validation guarantees constants for this metric
        return normalized
    return value


def completed_subtasks(record: EpisodeRecord) -> int:
    """Subtasks a chain episode completed; one that failed before its first step completed none."""
    return record.subtasks_completed or 0


def chain_scores(length: int, records: Sequence[EpisodeRecord]) -> ChainScoresJson:
    """Success rate for >= i consecutive subtasks (i = 1..length) and the average length."""
    completed = [completed_subtasks(r) for r in records]
    if any(c > length for c in completed):
        raise ValueError(f"an episode record claims more than the chain length of {length} completed subtasks")
    n = len(records)
    rates: list[EstimateJson] = []
    for i in range(1, length + 1):
        wins = sum(1 for c in completed if c >= i)
        low, high = wilson_interval(wins, n)
        rates.append({"mean": wins / n if n else None, "ci95": [_finite(low), _finite(high)], "successes": wins})
    return {"length": length, "success_rates": rates,
            "average_length": _estimate(*mean_interval([float(c) for c in completed]))}


def _estimate(mean: float, low: float, high: float) -> EstimateJson:
    return {"mean": _finite(mean), "ci95": [_finite(low), _finite(high)]}


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def task_scores(protocol: Protocol, task: TaskDef, records: Sequence[EpisodeRecord]) -> TaskScoresJson:
    n = len(records)
    returns = [r.total_return if math.isfinite(r.total_return) else 0.0 for r in records]
    mean, low, high = mean_interval(returns)
    normalized: EstimateJson | None = None
    if task.normalization is not None:
        lo_n, hi_n = normalize(task, low), normalize(task, high)
        mean_n = normalize(task, mean)
        assert mean_n is not None and lo_n is not None and hi_n is not None
        normalized = _estimate(mean_n, lo_n, hi_n)
    success: EstimateJson | None = None
    completion: float | None = None
    if protocol.has_success:
        wins = sum(1 for r in records if r.success and not r.error)
        low_w, high_w = wilson_interval(wins, n)
        success = {"mean": wins / n if n else None, "ci95": [_finite(low_w), _finite(high_w)], "successes": wins}
        steps = [r.success_step for r in records if r.success and not r.error and r.success_step is not None]
        completion = float(np.mean(steps)) if steps else None
    smooth = [r.action_smoothness for r in records if r.action_smoothness is not None]
    head: TaskScoresHeadJson = {
        "n": n,
        "n_errors": sum(1 for r in records if r.error),
        "errors": _count_kinds(records),
        "mean_return": _estimate(mean, low, high),
        "normalized_score": normalized,
        "success_rate": success,
        "mean_length": _finite(float(np.mean([r.length for r in records]))) if n else None,
        "completion_steps": completion,
        "action_smoothness": _finite(float(np.mean(smooth))) if smooth else None,
        "clipped_steps": sum(r.clipped_steps for r in records),
    }
    chain = chain_scores(protocol.chain.length, records) if protocol.chain is not None else None
    estimates = {"normalized_score": normalized, "success_rate": success, "mean_return": head["mean_return"],
                 "average_length": chain["average_length"] if chain else None}
    primary = estimates[protocol.primary_metric]
    primary_mean = primary["mean"] if primary else None
    chain_part: ChainPartJson = {} if chain is None else {"chain": chain, "average_length": chain["average_length"]}
    return {**head, **chain_part, "primary": primary_mean}


def _count_kinds(records: Iterable[EpisodeRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        if record.error_kind:
            counts[record.error_kind] = counts.get(record.error_kind, 0) + 1
    return dict(sorted(counts.items()))


def mean_of_task_means(*samples: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
    means: NDArray[np.float64] = np.mean([s.mean(axis=axis) for s in samples], axis=0)
    return means


def iqm_of_task_means(*samples: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
    """rliable's IQM over the per-task scores (each task's mean), not over pooled episodes."""
    return np.asarray(_stats().trim_mean(np.stack([s.mean(axis=axis) for s in samples], axis=-1), IQM_TRIM, axis=-1))


def iqm_note(n_scores: int) -> str | None:
    """Why the IQM is withheld for ``n_scores`` (runs x tasks) scores, or None when it is shown."""
    if n_scores >= IQM_MIN_SCORES:
        return None
    return (f"IQM withheld: it needs at least {IQM_MIN_SCORES} task scores (runs x tasks) and there are "
            f"{n_scores}; with fewer, a 25% trim removes nothing and it would only repeat the mean")


def stratified_bootstrap(
    samples: Sequence[NDArray[np.float64]],
    statistic: Callable[..., NDArray[np.float64]],
) -> tuple[float, float, float]:
    """Point estimate and percentile interval, resampling within each sample (task) independently."""
    point = float(statistic(*samples))
    if all(s.size <= 1 or np.all(s == s[0]) for s in samples):
        return (point, point, point)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate strata are fine: they just add no spread
        result = _stats().bootstrap(
            tuple(samples), statistic, n_resamples=BOOTSTRAP_RESAMPLES, batch=500, vectorized=True,
            confidence_level=CONFIDENCE, method="percentile", random_state=np.random.default_rng(BOOTSTRAP_SEED),
        )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return (point, point, point)
    return (point, low, high)


def compute_scores(protocol: Protocol, records: Sequence[EpisodeRecord]) -> ScoresJson:
    """Every score of a results bundle, recomputed from its episode records alone."""
    by_task: dict[str, list[EpisodeRecord]] = {name: [] for name in protocol.task_names}
    for record in records:
        if record.task not in by_task:
            raise ValueError(f"episode record for task {record.task!r}, which {protocol.id} does not have")
        by_task[record.task].append(record)
    for task_records in by_task.values():
        task_records.sort(key=lambda r: r.episode_index)  # the bootstrap sees the same order however the run went
    tasks = {task.name: task_scores(protocol, task, by_task[task.name])
             for task in protocol.tasks if by_task[task.name]}
    samples = [np.array([episode_score(protocol, r) for r in by_task[name]], dtype=np.float64)
               for name in protocol.task_names if by_task[name]]
    aggregate: AggregateJson = {
        "metric": protocol.primary_metric,
        "n_tasks": len(samples),
        "n_tasks_planned": len(protocol.tasks),
        "n_episodes": len(records),
        "n_errors": sum(1 for r in records if r.error),
        "mean": None,
        "iqm": None,
        "n_runs": 1,
        "interval_method": None,
        "iqm_note": iqm_note(len(samples)),
    }
    if len(samples) == 1:  # the headline is the task's own estimate and interval
        only = tasks[next(name for name in protocol.task_names if by_task[name])]
        headline = only[protocol.primary_metric]  # the protocol's checks guarantee the task has this metric
        assert headline is not None, f"{protocol.id}: task scores without their primary metric"
        aggregate["mean"] = headline.copy()
        aggregate["interval_method"] = ("Wilson score interval" if protocol.primary_metric == "success_rate"
                                        else "Student t interval over episodes")
    elif samples:
        aggregate["mean"] = _estimate(*stratified_bootstrap(samples, mean_of_task_means))
        aggregate["interval_method"] = INTERVAL_BOOTSTRAP
    if samples and aggregate["iqm_note"] is None:
        aggregate["iqm"] = _estimate(*stratified_bootstrap(samples, iqm_of_task_means))
    return {"primary_metric": protocol.primary_metric, "tasks": tasks, "aggregate": aggregate}
