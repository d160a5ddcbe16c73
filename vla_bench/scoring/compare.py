"""Paired comparison of two agents on identical episodes of one protocol.

Episodes are paired by (task, episode index) and must have the same planned seed. Per task and over all
tasks: both arms' scores, the mean difference B - A of the primary metric with a paired-bootstrap 95% interval
(resampling pairs within each task), and for success rates (differences in percentage points) McNemar's exact
test on the discordant pairs and Newcombe's paired hybrid-score interval. Per-task p-values are also given
Holm-adjusted over the tasks (a multiple-comparison correction); ``verdict`` says the outcome in one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NotRequired, TypedDict

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from vla_bench.scoring.scores import (
    CONFIDENCE,
    episode_score,
    mean_of_task_means,
    stratified_bootstrap,
    wilson_interval,
)
from vla_bench.scoring.stats import holm_adjust, newcombe_paired_interval
from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.errors import UserError
from vla_bench.spec.protocol import PrimaryMetric


class IntervalJson(TypedDict):
    mean: float
    ci95: list[float]


class McNemarJson(TypedDict):
    a_only: int
    b_only: int
    p_value: float
    p_holm: NotRequired[float]  # per task, Holm-adjusted over the tasks


class SuccessTestsJson(TypedDict):
    mcnemar: McNemarJson
    newcombe: IntervalJson  # B - A


class PairedJson(TypedDict):
    """One task's (or all tasks') paired result: both arms and the difference B - A."""

    n_pairs: int
    difference: IntervalJson
    a: IntervalJson
    b: IntervalJson
    mcnemar: NotRequired[McNemarJson]  # success-rate protocols
    newcombe: NotRequired[IntervalJson]


class ComparisonHead(TypedDict):
    protocol: str
    metric: PrimaryMetric
    only_in_a: int
    only_in_b: int
    tasks: dict[str, PairedJson]
    overall: PairedJson
    multiple_comparisons: str | None


class ComparisonJson(ComparisonHead):
    """:func:`paired_comparison`'s result (``harness.comparison.Comparison`` is its typed model)."""

    verdict: str


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test on the discordant pairs."""
    discordant = a_only + b_only
    if discordant == 0:
        return 1.0
    return float(stats.binomtest(b_only, discordant, 0.5).pvalue)


def paired_comparison(protocol: Protocol, a: Sequence[EpisodeRecord], b: Sequence[EpisodeRecord]) -> ComparisonJson:
    index_a = {r.key: r for r in a}
    index_b = {r.key: r for r in b}
    common = sorted(set(index_a) & set(index_b), key=lambda k: (protocol.task_names.index(k[0]), k[1]))
    if not common:
        raise UserError("the two runs share no episodes: nothing to compare")
    for key in common:
        if index_a[key].seed != index_b[key].seed:
            raise UserError(f"episode {key} has seed {index_a[key].seed} in A but {index_b[key].seed} in B: "
                            "the runs do not follow the same episode plan")
    per_task: dict[str, PairedJson] = {}
    samples = []
    for task in protocol.task_names:
        keys = [k for k in common if k[0] == task]
        if not keys:
            continue
        score_a = np.array([episode_score(protocol, index_a[k]) for k in keys])
        score_b = np.array([episode_score(protocol, index_b[k]) for k in keys])
        diffs = score_b - score_a
        mean, low, high = stratified_bootstrap([diffs], mean_of_task_means)
        entry: PairedJson = {"n_pairs": len(keys), "difference": {"mean": mean, "ci95": [low, high]},
                             "a": _arm([score_a], protocol.has_success), "b": _arm([score_b], protocol.has_success)}
        if protocol.has_success:
            _add_tests(entry, _success_tests([index_a[k] for k in keys], [index_b[k] for k in keys]))
        per_task[task] = entry
        samples.append((score_a, score_b))
    mean, low, high = stratified_bootstrap([b - a for a, b in samples], mean_of_task_means)
    overall: PairedJson = {"n_pairs": len(common), "difference": {"mean": mean, "ci95": [low, high]},
                           "a": _arm([a for a, _ in samples], False), "b": _arm([b for _, b in samples], False)}
    if protocol.has_success:
        _add_tests(overall, _success_tests([index_a[k] for k in common], [index_b[k] for k in common]))
        adjusted = holm_adjust([e["mcnemar"]["p_value"] for e in per_task.values()])
        for entry, p_holm in zip(per_task.values(), adjusted, strict=True):
            entry["mcnemar"]["p_holm"] = p_holm
    result: ComparisonHead = {
        "protocol": protocol.id,
        "metric": protocol.primary_metric,
        "only_in_a": len(index_a) - len(common),
        "only_in_b": len(index_b) - len(common),
        "tasks": per_task,
        "overall": overall,
        "multiple_comparisons": (f"per-task McNemar p-values are also given Holm-adjusted over {len(per_task)} tasks "
                                 "(p_holm); judge single tasks by those" if protocol.has_success and len(per_task) > 1
                                 else None),
    }
    return {**result, "verdict": verdict(result)}


def _add_tests(entry: PairedJson, tests: SuccessTestsJson) -> None:
    entry["mcnemar"], entry["newcombe"] = tests["mcnemar"], tests["newcombe"]


def _arm(samples: list[NDArray[np.float64]], wilson: bool) -> IntervalJson:
    """One arm's score on the paired episodes: one task's success rate with its Wilson interval, else the mean of
    task means with its stratified-bootstrap interval."""
    if wilson and len(samples) == 1 and samples[0].size:
        wins, n = int(samples[0].sum()), int(samples[0].size)
        low_w, high_w = wilson_interval(wins, n)
        return {"mean": wins / n, "ci95": [low_w, high_w]}
    mean, low, high = stratified_bootstrap(samples, mean_of_task_means)
    return {"mean": mean, "ci95": [low, high]}


def _success_tests(a: Sequence[EpisodeRecord], b: Sequence[EpisodeRecord]) -> SuccessTestsJson:
    pairs = [(_won(x), _won(y)) for x, y in zip(a, b, strict=True)]
    both = sum(1 for x, y in pairs if x and y)
    a_only = sum(1 for x, y in pairs if x and not y)
    b_only = sum(1 for x, y in pairs if y and not x)
    neither = len(pairs) - both - a_only - b_only
    low, high = newcombe_paired_interval(both, b_only, a_only, neither)  # B - A
    return {"mcnemar": {"a_only": a_only, "b_only": b_only, "p_value": mcnemar_exact(a_only, b_only)},
            "newcombe": {"mean": (b_only - a_only) / len(pairs), "ci95": [low, high]}}


def verdict(result: ComparisonHead, alpha: float = 1 - CONFIDENCE) -> str:
    """One plain sentence: which arm is better on this protocol's episodes, or that the test cannot tell."""
    overall, percent = result["overall"], result["metric"] == "success_rate"
    diff = overall["difference"]
    low, high = diff["ci95"]

    def unit(value: float) -> str:
        return f"{100 * value:+.1f} pp" if percent else f"{value:+.3g}"

    detail = f"B − A = {unit(diff['mean'])} [{unit(low)}, {unit(high)}]"
    if "mcnemar" in overall:
        p = overall["mcnemar"]["p_value"]
        detail += f", exact McNemar p = {p:.3g}"
        decided = p < alpha
    else:
        detail += " (paired bootstrap 95%)"
        decided = low > 0 or high < 0
    if not decided:
        return (f"no significant difference at the {100 * alpha:g}% level on {overall['n_pairs']} paired episodes: "
                f"{detail}")
    better = "B" if diff["mean"] > 0 else "A"
    return f"{better} is better at the {100 * alpha:g}% level on {overall['n_pairs']} paired episodes: {detail}"


def _won(record: EpisodeRecord) -> bool:
    return bool(record.success) and not record.error
