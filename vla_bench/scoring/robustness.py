"""Scores of a robustness protocol: per axis and level, the score and its paired drop from the clean arm.

Every arm of a robustness protocol runs the clean arm's episodes (same seeds, same initial states), so episode
``i`` of ``reach-v3.camera.2`` is paired with episode ``i`` of ``reach-v3``. For each axis and level:

- ``score``: the primary metric's per-episode value (success 0/1, normalized score, return; errors count as
  failures, as everywhere) averaged per task, then over tasks;
- ``drop``: clean score minus perturbed score on the paired episodes (positive = worse under perturbation);
- intervals: 95% percentile intervals of a paired bootstrap that resamples episode indices within each task,
  the same indices for every arm (so the clean and perturbed values of a pair always move together).

The aggregate **robustness score** is the mean over axes of the axis's mean retention over its levels,
retention = perturbed score / clean score, times 100: 100 means no loss anywhere, 50 means half the clean
score is kept on average. It is defined only when the clean score is positive (else None, with the reason), and
it has the same bootstrap interval. The clean arm can come from a separate bundle of the clean protocol
(``clean_records``): pairs are then matched on (task, episode index) and must have the same seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NotRequired, TypedDict

import numpy as np
from numpy.typing import NDArray

from vla_bench.scoring.scores import CONFIDENCE, episode_score
from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.protocol import PrimaryMetric

RESAMPLES = 2000
BOOTSTRAP_SEED = 20261204
AGGREGATE_DEFINITION = ("100 x mean over axes of (mean over the axis's levels of perturbed score / clean score), "
                        "on paired episodes; 100 = no loss")


class DropEstimate(TypedDict):
    """A paired point estimate with its bootstrap 95% interval."""

    mean: float
    ci95: list[float]


class LevelJson(TypedDict):
    level: int
    score: DropEstimate
    drop: DropEstimate  # clean - perturbed, paired episode for episode


class AxisJson(TypedDict):
    description: str
    levels: list[LevelJson]  # the levels that ran on every paired task


class RobustnessAggregate(TypedDict):
    definition: str
    mean: float | None
    ci95: list[float] | None
    note: NotRequired[str]  # why there is no score


class RobustnessJson(TypedDict):
    """:func:`robustness_scores`' table."""

    metric: PrimaryMetric
    clean_protocol: str
    n_pairs: dict[str, int]
    clean: DropEstimate
    axes: dict[str, AxisJson]
    robustness: RobustnessAggregate


class PairingError(ValueError):
    """Records that cannot be paired (missing clean episodes, different seeds)."""


def _arms(protocol: Protocol) -> dict[tuple[str, int], list[str]]:
    """(axis, level) -> the tasks of that arm, in protocol order."""
    arms: dict[tuple[str, int], list[str]] = {}
    for task in protocol.tasks:
        if task.perturbation is not None:
            arms.setdefault((task.perturbation.axis, task.perturbation.level), []).append(task.name)
    return arms


def _scores_by_task(protocol: Protocol, records: Sequence[EpisodeRecord]) -> dict[str, dict[int, tuple[int, float]]]:
    found: dict[str, dict[int, tuple[int, float]]] = {}
    for record in records:
        found.setdefault(record.task, {})[record.episode_index] = (record.seed, episode_score(protocol, record))
    return found


def _estimate(point: float, samples: NDArray[np.float64]) -> DropEstimate:
    tail = (1.0 - CONFIDENCE) / 2.0
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return {"mean": point, "ci95": [point, point]}
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return {"mean": point, "ci95": [float(low), float(high)]}


def robustness_scores(protocol: Protocol, records: Sequence[EpisodeRecord],
                      clean_records: Sequence[EpisodeRecord] | None = None) -> RobustnessJson:
    """The robustness table of a robustness protocol's records (see the module docstring)."""
    spec = protocol.perturbation
    if spec is None:
        raise ValueError(f"{protocol.id} is not a robustness protocol (it has no [perturbation] section)")
    scored = _scores_by_task(protocol, records)
    clean_tasks = [t.name for t in protocol.tasks if t.perturbation is None]
    if clean_records is not None:
        external = _scores_by_task(protocol, [r for r in clean_records if r.task in clean_tasks])
        scored.update({task: external.get(task, {}) for task in clean_tasks})
    arms = _arms(protocol)
    # indices paired across the clean arm and every arm that ran, per clean task
    indices: dict[str, list[int]] = {}
    for base in clean_tasks:
        clean = scored.get(base, {})
        common = set(clean)
        for arm_tasks in arms.values():
            for task in arm_tasks:
                if protocol.task(task).perturbation.base_task == base and task in scored:  # type: ignore[union-attr]
                    arm = scored[task]
                    for index in set(arm) & set(clean):
                        if arm[index][0] != clean[index][0]:
                            raise PairingError(f"episode {index} of {task} has seed {arm[index][0]} but the clean "
                                               f"episode of {base} has {clean[index][0]}: not the same episode")
                    common &= set(arm)
        if common:
            indices[base] = sorted(common)
    if not indices:
        raise PairingError("no episode index was run by the clean arm and every perturbed arm of any task")
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = {base: rng.integers(0, len(idx), (RESAMPLES, len(idx))) for base, idx in indices.items()}

    def arm_statistic(tasks: dict[str, str]) -> tuple[float, NDArray[np.float64]]:
        """Mean over tasks of the per-task mean, for the point and for every resample. tasks: base -> task."""
        points, samples = [], []
        for base, task in tasks.items():
            values = np.asarray([scored[task][i][1] for i in indices[base]])
            points.append(values.mean())
            samples.append(values[draws[base]].mean(axis=1))
        return float(np.mean(points)), np.mean(samples, axis=0)

    clean_point, clean_samples = arm_statistic({base: base for base in indices})
    axes: dict[str, AxisJson] = {}
    retention_points, retention_samples = [], []
    for axis in spec.axes:
        levels: list[LevelJson] = []
        axis_points, axis_samples = [], []
        for number in range(1, len(axis.levels) + 1):
            tasks = {protocol.task(t).perturbation.base_task: t  # type: ignore[union-attr]
                     for t in arms.get((axis.name, number), []) if t in scored}
            tasks = {base: task for base, task in tasks.items() if base in indices}
            if set(tasks) != set(indices):
                continue  # this level did not run on every paired task
            point, samples = arm_statistic(tasks)
            levels.append({"level": number, "score": _estimate(point, samples),
                           "drop": _estimate(clean_point - point, clean_samples - samples)})
            if clean_point > 0:
                axis_points.append(point / clean_point)
                with np.errstate(divide="ignore", invalid="ignore"):
                    axis_samples.append(samples / clean_samples)
        axes[axis.name] = {"description": axis.description, "levels": levels}
        if axis_points:
            retention_points.append(float(np.mean(axis_points)))
            retention_samples.append(np.mean(axis_samples, axis=0))
    return {"metric": protocol.primary_metric, "clean_protocol": spec.clean_protocol,
            "n_pairs": {base: len(idx) for base, idx in indices.items()},
            "clean": _estimate(clean_point, clean_samples), "axes": axes,
            "robustness": _aggregate(clean_point, retention_points, retention_samples)}


def _aggregate(clean_point: float, points: list[float], samples: list[NDArray[np.float64]]) -> RobustnessAggregate:
    if clean_point <= 0:
        return {"definition": AGGREGATE_DEFINITION, "mean": None, "ci95": None,
                "note": "undefined: the clean score is not positive"}
    if not points:
        return {"definition": AGGREGATE_DEFINITION, "mean": None, "ci95": None,
                "note": "no perturbed level ran on every paired task"}
    score = _estimate(100.0 * float(np.mean(points)), 100.0 * np.mean(samples, axis=0))
    return {"definition": AGGREGATE_DEFINITION, "mean": score["mean"], "ci95": score["ci95"]}


def markdown(result: RobustnessJson) -> str:
    """The robustness table as Markdown (for report.md)."""
    percent = result["metric"] == "success_rate"

    def fmt(estimate: DropEstimate | RobustnessAggregate | None, scale: float = 100.0 if percent else 1.0) -> str:
        mean, ci95 = (estimate["mean"], estimate["ci95"]) if estimate else (None, None)
        if mean is None or ci95 is None:
            return "–"
        low, high = ci95
        return f"{scale * mean:.1f} [{scale * low:.1f}, {scale * high:.1f}]"

    unit = " (%)" if percent else ""
    lines = [f"Paired with {result['clean_protocol']} episode for episode; clean {result['metric']}{unit}: "
             f"{fmt(result['clean'])}.", "",
             f"| axis | level | {result['metric']}{unit} (95% CI) | drop from clean (paired 95% CI) |",
             "|---|---|---|---|"]
    for name, axis in result["axes"].items():
        for level in axis["levels"]:
            lines.append(f"| {name} | {level['level']} | {fmt(level['score'])} | {fmt(level['drop'])} |")
    aggregate = result["robustness"]
    value = fmt(aggregate, 1.0) if aggregate.get("mean") is not None else aggregate.get("note", "–")
    lines += ["", f"**Robustness score: {value}** — {aggregate['definition']}.", ""]
    return "\n".join(lines)


def robustness_sections(protocol: Protocol, records: Sequence[EpisodeRecord]) -> list[str]:
    """report.md's robustness and safety sections (none when the run has neither)."""
    from vla_bench.scoring import safety_summary  # noqa: PLC0415 - a sibling module; kept out of import time

    parts = []
    if protocol.perturbation is not None and records:
        try:
            parts.append("## Robustness\n\n" + markdown(robustness_scores(protocol, records)))
        except PairingError as exc:
            parts.append(f"## Robustness\n\nnot computed: {exc}\n")
    safety = safety_summary.safety_summary(records)
    if safety:
        parts.append("## Safety\n\n" + safety_summary.markdown(safety))
    return parts
