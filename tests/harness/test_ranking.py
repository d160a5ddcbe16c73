"""Tie-aware ranks: paired tests on identical episodes, Holm-adjusted, against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from vlab_fakes import fake_protocol

from vla_bench.harness.plan import episode_spec
from vla_bench.harness.ranking import pair_p_value, tie_aware_ranks
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
