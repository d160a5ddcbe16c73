"""Tie-aware ranks for a leaderboard: entries a paired test cannot separate share a rank.

All entries of one protocol ran the same planned episodes, so every two of them are compared on identical
episodes: for success rates with McNemar's exact test on the discordant pairs, otherwise with a paired
t-test on the per-episode differences of the primary metric (``scipy.stats.ttest_rel``). The p-values of all
pairs are Holm-adjusted (the family is every pair on the board). Then, as arena-style boards do,

* ``rank`` = 1 + the number of entries significantly better than this one (ties share it), and
* ``rank_range`` = [rank, n - the number of entries significantly worse], the ranks it could hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
from scipy import stats

from vla_bench.harness.compare import mcnemar_exact
from vla_bench.harness.scoring import CONFIDENCE, episode_score
from vla_bench.harness.stats import holm_adjust
from vla_bench.spec import EpisodeRecord, Protocol


def _method(protocol: Protocol, n_pairs: int, alpha: float) -> str:
    test = ("exact McNemar tests" if protocol.primary_metric == "success_rate"
            else "paired t-tests on per-episode differences")
    return (f"pairwise {test} on the shared episodes, Holm-adjusted over {n_pairs} pairs at alpha = {alpha:g}; "
            "rank = 1 + entries significantly better, range up to n - entries significantly worse")


def _scores(protocol: Protocol, records: Sequence[EpisodeRecord]) -> dict[tuple[str, int], float]:
    return {r.key: episode_score(protocol, r) for r in records}


def pair_p_value(protocol: Protocol, x: Mapping[tuple[str, int], float], y: Mapping[tuple[str, int], float]) -> float:
    """Two-sided p-value of "x and y score the same" on the episodes both ran."""
    keys = sorted(set(x) & set(y))
    if not keys:
        return 1.0
    a = np.array([x[k] for k in keys])
    b = np.array([y[k] for k in keys])
    if protocol.primary_metric == "success_rate":
        return mcnemar_exact(int(np.sum((a > 0) & (b == 0))), int(np.sum((b > 0) & (a == 0))))
    diffs = b - a
    if np.all(diffs == diffs[0]):  # no spread: identical outcomes cannot be told apart; a constant shift can
        return 1.0 if diffs[0] == 0 else 0.0
    return float(stats.ttest_rel(b, a).pvalue)


def tie_aware_ranks(protocol: Protocol, entries: Mapping[str, Sequence[EpisodeRecord]],
                    alpha: float = 1 - CONFIDENCE) -> dict[str, Any]:
    """``{"method": ..., "entries": {name: {"score", "rank", "rank_range", "better_than", "worse_than"}}}``."""
    scores = {name: _scores(protocol, records) for name, records in entries.items()}
    means = {name: float(np.mean(list(s.values()))) if s else float("nan") for name, s in scores.items()}
    names = list(entries)
    pairs = list(combinations(names, 2))
    adjusted = holm_adjust([pair_p_value(protocol, scores[a], scores[b]) for a, b in pairs])
    better: dict[str, set[str]] = {name: set() for name in names}  # name -> entries significantly better
    worse: dict[str, set[str]] = {name: set() for name in names}
    for (a, b), p in zip(pairs, adjusted, strict=True):
        if p <= alpha and means[a] != means[b]:
            high, low = (a, b) if means[a] > means[b] else (b, a)
            better[low].add(high)
            worse[high].add(low)
    n = len(names)
    ranked = {
        name: {"score": means[name], "rank": 1 + len(better[name]),
               "rank_range": [1 + len(better[name]), n - len(worse[name])],
               "better_than": sorted(worse[name]), "worse_than": sorted(better[name])}
        for name in sorted(names, key=lambda k: (-means[k], k))
    }
    return {"method": _method(protocol, len(pairs), alpha), "alpha": alpha, "entries": ranked}
