"""Tie-aware ranks for a leaderboard: entries a paired test cannot separate share a rank range.

Entries that ran the same planned episodes (same protocol hash, same (task, episode_index) keys) are compared
pairwise on those identical episodes: for success rates with McNemar's exact test on the discordant pairs,
otherwise with a paired t-test on the per-episode differences of the primary metric (``scipy.stats.ttest_rel``).
The p-values of every such pair on the board are Holm-adjusted together (the family is all pairs, not only
neighbours: adjacent-only tests chain, so 1 ~ 2 ~ 3 would tie 1 with 3 even where 1 clearly beats 3). Two
entries whose episodes do not pair (another plan) fall back to their 95% intervals: separated only when the
intervals do not overlap. Then, as arena-style boards do,

* ``rank`` = 1 + the number of entries significantly better than this one (ties share it), and
* ``rank_range`` = [rank, n - the number of entries significantly worse], the ranks it could hold.

All pairs are computed at once from a matrix of per-episode scores (one matrix product for McNemar's
discordant counts, one covariance matrix for the paired t statistics), so a board of hundreds of entries
costs milliseconds once its episodes are in memory.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from vla_bench.scoring.compare import mcnemar_exact
from vla_bench.scoring.scores import CONFIDENCE, episode_score
from vla_bench.spec import EpisodeRecord, Protocol

EpisodeKey = tuple[str, int]


@dataclass(frozen=True)
class RankedEntry:
    """One board entry: its per-episode scores keyed by (task, episode_index), its mean and 95% interval."""

    key: Hashable
    episodes: tuple[EpisodeKey, ...]  # sorted; entries with equal episodes (and plan) are paired
    scores: NDArray[np.float64]  # aligned with ``episodes``
    mean: float
    low: float | None = None
    high: float | None = None
    plan: str = ""  # e.g. the protocol hash: entries pair only within one plan


@dataclass(frozen=True)
class RankRanges:
    ranges: dict[Hashable, tuple[int, int]]  # key -> (best rank, worst rank)
    method: str
    alpha: float
    n_tests: int  # paired tests in the Holm family
    n_unpaired: int  # pairs compared by interval overlap (their episodes do not pair)


def paired_test_name(metric: str) -> str:
    """The paired test of a metric, in the plural (the note names the family)."""
    return "exact McNemar tests" if metric == "success_rate" else "paired t-tests (per-episode differences)"


def method_note(metric: str, n_tests: int, n_unpaired: int, alpha: float) -> str:
    note = (f"Rank ranges: {paired_test_name(metric)} between every two entries over their identical planned "
            f"episodes, Holm-adjusted over {n_tests} pair{'s' if n_tests != 1 else ''} at alpha = {alpha:g}. An "
            "entry's best rank is 1 + the entries significantly better than it, its worst rank n - the entries "
            "significantly worse.")
    if n_unpaired:
        note += (f" {n_unpaired} pair{'s' if n_unpaired != 1 else ''} of entries ran different episode plans and "
                 "cannot be paired: those are separated only where their 95% intervals do not overlap.")
    return note


def pairwise_p_values(metric: str, scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """Two-sided p-values of "row i and row j score the same", for every pair of rows (episodes in columns)."""
    n, episodes = scores.shape
    if metric == "success_rate":
        won = (scores > 0).astype(np.float64)
        only = won @ (1.0 - won).T  # [i, j]: episodes i won and j lost
        low = np.minimum(only, only.T)
        discordant = only + only.T
        with np.errstate(invalid="ignore"):  # binomial p = 1/2 is symmetric: two-sided p = 2 * P(X <= min)
            p = np.minimum(1.0, 2.0 * stats.binom.cdf(low, discordant, 0.5))
        return np.where(discordant == 0, 1.0, p)
    if episodes < 2:
        return np.ones((n, n))
    means = scores.mean(axis=1)
    cov = np.atleast_2d(np.cov(scores, ddof=1))
    var = np.diag(cov)
    diff = means[:, None] - means[None, :]
    var_diff = var[:, None] + var[None, :] - 2.0 * cov
    # a difference of zero spread (identical outcomes, or a constant shift) is decided without a t statistic
    scale = np.maximum(var[:, None] + var[None, :], np.finfo(np.float64).tiny)
    flat = var_diff <= 1e-12 * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        t = diff / np.sqrt(np.where(flat, 1.0, var_diff) / episodes)
    p = 2.0 * stats.t.sf(np.abs(t), episodes - 1)
    exact = np.where(np.abs(diff) <= 1e-12 * np.maximum(np.abs(means[:, None]) + np.abs(means[None, :]), 1.0),
                     1.0, 0.0)
    return np.where(flat, exact, p)


def holm(pvalues: NDArray[np.float64]) -> NDArray[np.float64]:
    """Holm-adjusted p-values in the input order (the same as ``stats.holm_adjust``, vectorized)."""
    m = pvalues.size
    order = np.argsort(pvalues, kind="stable")
    adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * pvalues[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def separations(metric: str, entries: Sequence[RankedEntry],
                alpha: float = 1 - CONFIDENCE) -> tuple[NDArray[np.bool_], int, int]:
    """(n x n symmetric matrix: the pair is told apart, paired tests in the Holm family, unpaired pairs)."""
    n = len(entries)
    separated = np.zeros((n, n), dtype=bool)
    groups: dict[tuple[str, tuple[EpisodeKey, ...]], list[int]] = {}
    for index, entry in enumerate(entries):
        groups.setdefault((entry.plan, entry.episodes), []).append(index)
    rows, cols, pvalues = [], [], []
    for members in groups.values():
        if len(members) < 2:
            continue
        p = pairwise_p_values(metric, np.stack([entries[i].scores for i in members]))
        upper_i, upper_j = np.triu_indices(len(members), k=1)
        rows.append(np.asarray(members)[upper_i])
        cols.append(np.asarray(members)[upper_j])
        pvalues.append(p[upper_i, upper_j])
    n_tests = 0
    if pvalues:
        i, j, p = np.concatenate(rows), np.concatenate(cols), np.concatenate(pvalues)
        n_tests = p.size
        reject = holm(p) <= alpha
        separated[i[reject], j[reject]] = separated[j[reject], i[reject]] = True
    group_of = {key: g for g, key in enumerate(groups)}
    labels = np.array([group_of[(e.plan, e.episodes)] for e in entries])
    paired = labels[:, None] == labels[None, :]
    low = np.array([np.nan if e.low is None else e.low for e in entries], dtype=np.float64)
    high = np.array([np.nan if e.high is None else e.high for e in entries], dtype=np.float64)
    apart = (low[:, None] > high[None, :]) | (low[None, :] > high[:, None])  # NaN compares False: not apart
    separated |= ~paired & apart
    return separated, n_tests, int(np.sum(np.triu(~paired, k=1)))


def rank_ranges(metric: str, entries: Sequence[RankedEntry], alpha: float = 1 - CONFIDENCE) -> RankRanges:
    """Each entry's (best, worst) rank given which pairs a Holm-adjusted paired test separates."""
    separated, n_tests, n_unpaired = separations(metric, entries, alpha)
    means = np.array([e.mean for e in entries], dtype=np.float64)
    better = separated & (means[None, :] > means[:, None])  # [i, j]: j is significantly better than i
    worse = separated & (means[None, :] < means[:, None])
    best = 1 + better.sum(axis=1)
    worst = len(entries) - worse.sum(axis=1)
    ranges = {e.key: (int(best[k]), int(worst[k])) for k, e in enumerate(entries)}
    return RankRanges(ranges, method_note(metric, n_tests, n_unpaired, alpha), alpha, n_tests, n_unpaired)


def entry_from_records(protocol: Protocol, key: Hashable, records: Sequence[EpisodeRecord],
                       low: float | None = None, high: float | None = None, plan: str = "") -> RankedEntry:
    ordered = sorted(records, key=lambda r: r.key)
    scores = np.array([episode_score(protocol, r) for r in ordered], dtype=np.float64)
    return RankedEntry(key, tuple(r.key for r in ordered), scores, float(scores.mean()) if scores.size else
                       float("nan"), low, high, plan or protocol.sha256())


def pair_p_value(protocol: Protocol, x: Mapping[EpisodeKey, float], y: Mapping[EpisodeKey, float]) -> float:
    """Two-sided p-value of "x and y score the same" on the episodes both ran."""
    keys = sorted(set(x) & set(y))
    if not keys:
        return 1.0
    a = np.array([x[k] for k in keys])
    b = np.array([y[k] for k in keys])
    if protocol.primary_metric == "success_rate":
        return mcnemar_exact(int(np.sum((a > 0) & (b == 0))), int(np.sum((b > 0) & (a == 0))))
    return float(pairwise_p_values(protocol.primary_metric, np.stack([a, b]))[0, 1])


class RankJson(TypedDict):
    score: float
    rank: int
    rank_range: list[int]  # [best, worst]
    better_than: list[str]
    worse_than: list[str]


class RanksJson(TypedDict):
    method: str
    alpha: float
    entries: dict[str, RankJson]  # best mean first


def tie_aware_ranks(protocol: Protocol, entries: Mapping[str, Sequence[EpisodeRecord]],
                    alpha: float = 1 - CONFIDENCE) -> RanksJson:
    """``{"method": ..., "entries": {name: {"score", "rank", "rank_range", "better_than", "worse_than"}}}``."""
    ranked = [entry_from_records(protocol, name, records) for name, records in entries.items()]
    separated, n_tests, n_unpaired = separations(protocol.primary_metric, ranked, alpha)
    n = len(ranked)
    means = [e.mean for e in ranked]
    out: dict[str, RankJson] = {}
    for k in sorted(range(n), key=lambda k: (-means[k], str(ranked[k].key))):
        beats = [str(ranked[j].key) for j in range(n) if separated[k, j] and means[j] < means[k]]
        beaten = [str(ranked[j].key) for j in range(n) if separated[k, j] and means[j] > means[k]]
        out[str(ranked[k].key)] = {"score": means[k], "rank": 1 + len(beaten),
                                   "rank_range": [1 + len(beaten), n - len(beats)],
                                   "better_than": sorted(beats), "worse_than": sorted(beaten)}
    return {"method": method_note(protocol.primary_metric, n_tests, n_unpaired, alpha), "alpha": alpha,
            "entries": out}
