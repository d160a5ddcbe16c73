"""Paired comparison of two agents on identical episodes of one protocol.

Episodes are paired by (task, episode index) and must have the same planned seed. Per task and over all
tasks: the mean difference B - A of the primary metric with a paired-bootstrap 95% interval (resampling
pairs within each task), and for success, McNemar's exact test on the discordant pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from vla_bench.harness.scoring import episode_score, mean_of_task_means, stratified_bootstrap
from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.errors import UserError


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test on the discordant pairs."""
    discordant = a_only + b_only
    if discordant == 0:
        return 1.0
    return float(stats.binomtest(b_only, discordant, 0.5).pvalue)


def paired_comparison(protocol: Protocol, a: Sequence[EpisodeRecord], b: Sequence[EpisodeRecord]) -> dict[str, Any]:
    index_a = {r.key: r for r in a}
    index_b = {r.key: r for r in b}
    common = sorted(set(index_a) & set(index_b), key=lambda k: (protocol.task_names.index(k[0]), k[1]))
    if not common:
        raise UserError("the two runs share no episodes: nothing to compare")
    for key in common:
        if index_a[key].seed != index_b[key].seed:
            raise UserError(f"episode {key} has seed {index_a[key].seed} in A but {index_b[key].seed} in B: "
                            "the runs do not follow the same episode plan")
    per_task: dict[str, Any] = {}
    samples = []
    for task in protocol.task_names:
        keys = [k for k in common if k[0] == task]
        if not keys:
            continue
        diffs = np.array([episode_score(protocol, index_b[k]) - episode_score(protocol, index_a[k]) for k in keys])
        mean, low, high = stratified_bootstrap([diffs], mean_of_task_means)
        entry: dict[str, Any] = {"n_pairs": len(keys), "difference": {"mean": mean, "ci95": [low, high]}}
        if protocol.has_success:
            a_only = sum(1 for k in keys if _won(index_a[k]) and not _won(index_b[k]))
            b_only = sum(1 for k in keys if _won(index_b[k]) and not _won(index_a[k]))
            entry["mcnemar"] = {"a_only": a_only, "b_only": b_only, "p_value": mcnemar_exact(a_only, b_only)}
        per_task[task] = entry
        samples.append(diffs)
    mean, low, high = stratified_bootstrap(samples, mean_of_task_means)
    overall: dict[str, Any] = {"n_pairs": len(common), "difference": {"mean": mean, "ci95": [low, high]}}
    if protocol.has_success:
        a_only = sum(e["mcnemar"]["a_only"] for e in per_task.values())
        b_only = sum(e["mcnemar"]["b_only"] for e in per_task.values())
        overall["mcnemar"] = {"a_only": a_only, "b_only": b_only, "p_value": mcnemar_exact(a_only, b_only)}
    return {
        "protocol": protocol.id,
        "metric": protocol.primary_metric,
        "only_in_a": len(index_a) - len(common),
        "only_in_b": len(index_b) - len(common),
        "tasks": per_task,
        "overall": overall,
    }


def _won(record: EpisodeRecord) -> bool:
    return bool(record.success) and not record.error
