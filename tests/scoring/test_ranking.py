"""Tie-aware ranks: paired tests on identical episodes, Holm-adjusted, against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from vlab_fakes import fake_protocol

from vla_bench.protocols.plan import episode_spec
from vla_bench.scoring.ranking import (
    RankedEntry,
    holm,
    pair_p_value,
    pairwise_p_values,
    rank_ranges,
    tie_aware_ranks,
)
from vla_bench.spec import EpisodeRecord, Protocol


def _records(protocol: Protocol, values: list[float], success: list[bool] | None = None) -> list[EpisodeRecord]:
    task = protocol.task_names[0]
    return [EpisodeRecord(task=task, episode_index=i, seed=episode_spec(protocol, task, i).seed, init_index=None,
                          total_return=v, length=5, success=None if success is None else success[i])
            for i, v in enumerate(values)]


def test_entries_a_paired_test_cannot_separate_share_a_rank() -> None:
    protocol = fake_protocol(episodes=40, success=True, tasks=[{"name": "a", "env_id": "fake"}])
    strong = [True] * 36 + [False] * 4
    mid_1 = [True] * 12 + [False] * 28
    mid_2 = [True] * 10 + [True] * 3 + [False] * 27  # 13/40, differs from mid_1 on 1 pair only
    ranks = tie_aware_ranks(protocol, {"strong": _records(protocol, [0.0] * 40, strong),
                                       "mid-1": _records(protocol, [0.0] * 40, mid_1),
                                       "mid-2": _records(protocol, [0.0] * 40, mid_2)})
    entries = ranks["entries"]
    assert list(entries) == ["strong", "mid-2", "mid-1"]  # by score
    assert entries["strong"]["rank"] == 1 and entries["strong"]["rank_range"] == [1, 1]
    assert entries["mid-2"]["rank"] == entries["mid-1"]["rank"] == 2
    assert entries["mid-2"]["rank_range"] == entries["mid-1"]["rank_range"] == [2, 3]
    assert "exact McNemar" in ranks["method"] and "Holm-adjusted over 3 pairs" in ranks["method"]


def test_pair_p_values_are_scipys_and_holm_is_applied_over_all_pairs() -> None:
    protocol = fake_protocol(episodes=30, tasks=[{"name": "a", "env_id": "fake"}])
    rng = np.random.default_rng(4)
    base = rng.normal(0, 1, 30)
    runs = {"x": base, "y": base + 0.2 + rng.normal(0, 0.5, 30), "z": base + 1.5 + rng.normal(0, 0.5, 30)}
    scores = {k: {("a", i): float(v) for i, v in enumerate(vals)} for k, vals in runs.items()}
    expected = stats.ttest_rel(runs["y"], runs["x"]).pvalue
    assert pair_p_value(protocol, scores["x"], scores["y"]) == pytest.approx(expected)
    ranks = tie_aware_ranks(protocol, {k: _records(protocol, list(v)) for k, v in runs.items()})
    raw = [stats.ttest_rel(runs[b], runs[a]).pvalue for a, b in (("x", "y"), ("x", "z"), ("y", "z"))]
    reject = multipletests(raw, alpha=0.05, method="holm")[0]
    assert bool(reject[1]) and bool(reject[2])  # z beats both
    assert ranks["entries"]["z"]["rank"] == 1
    expected_tie = not bool(reject[0])
    assert (ranks["entries"]["x"]["rank"] == ranks["entries"]["y"]["rank"] == 2) == expected_tie


def _entry(key: str, scores: list[float], plan: str = "p", low: float | None = None,
           high: float | None = None) -> RankedEntry:
    array = np.asarray(scores, dtype=np.float64)
    return RankedEntry(key, tuple(("a", i) for i in range(array.size)), array, float(array.mean()), low, high, plan)


def test_all_pairs_mcnemar_is_scipys_exact_binomial_test() -> None:
    rng = np.random.default_rng(7)
    wins = (rng.random((6, 25)) < rng.uniform(0.1, 0.9, (6, 1))).astype(np.float64)
    p = pairwise_p_values("success_rate", wins)
    for i in range(6):
        for j in range(6):
            a_only = int(np.sum((wins[i] > 0) & (wins[j] == 0)))
            b_only = int(np.sum((wins[j] > 0) & (wins[i] == 0)))
            expected = 1.0 if a_only + b_only == 0 else stats.binomtest(b_only, a_only + b_only, 0.5).pvalue
            assert p[i, j] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_all_pairs_t_is_scipys_ttest_rel_and_holm_is_statsmodels() -> None:
    rng = np.random.default_rng(8)
    returns = rng.normal(0, 1, (5, 30)) + rng.normal(0, 0.4, (5, 1))
    p = pairwise_p_values("normalized_score", returns)
    for i in range(5):
        for j in range(5):
            if i != j:
                assert p[i, j] == pytest.approx(stats.ttest_rel(returns[i], returns[j]).pvalue, rel=1e-9)
    raw = rng.uniform(0, 0.1, 12)
    assert holm(raw) == pytest.approx(multipletests(raw, method="holm")[1])
    # identical outcomes cannot be told apart; a constant shift can
    flat = pairwise_p_values("mean_return", np.stack([returns[0], returns[0], returns[0] + 1.0]))
    assert flat[0, 1] == 1.0 and flat[0, 2] == 0.0


def test_rank_ranges_on_a_hand_case_and_the_interval_fallback_for_unpaired_plans() -> None:
    top = [1.0] * 38 + [0.0] * 2
    near = [1.0] * 37 + [0.0] * 3  # one discordant pair from top: McNemar p = 1
    low = [1.0] * 5 + [0.0] * 35
    result = rank_ranges("success_rate", [_entry("top", top), _entry("near", near), _entry("low", low)])
    assert result.ranges == {"top": (1, 2), "near": (1, 2), "low": (3, 3)}
    assert result.n_tests == 3 and result.n_unpaired == 0 and "exact McNemar" in result.method
    # another plan: no paired test, separated only where the intervals do not overlap
    other = _entry("other", [0.0] * 40, plan="q", low=0.0, high=0.09)
    result = rank_ranges("success_rate", [_entry("top", top, low=0.83, high=0.99), _entry("low", low, low=0.05,
                                                                                                 high=0.27), other])
    assert result.ranges == {"top": (1, 1), "low": (2, 3), "other": (2, 3)}
    assert result.n_tests == 1 and result.n_unpaired == 2 and "95% intervals do not overlap" in result.method
