"""Paired comparison on identical episodes."""

from __future__ import annotations

import pytest
from vlab_fakes import fake_protocol

from vla_bench.protocols.plan import episode_spec
from vla_bench.scoring.compare import mcnemar_exact, paired_comparison
from vla_bench.scoring.stats import newcombe_paired_interval
from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.errors import UserError


def _records(protocol: Protocol, outcomes: dict[str, list[bool]], offset: float = 0.0) -> list[EpisodeRecord]:
    return [
        EpisodeRecord(task=task, episode_index=i, seed=episode_spec(protocol, task, i).seed, init_index=None,
                      total_return=float(ok) + offset, length=5, success=ok)
        for task, values in outcomes.items() for i, ok in enumerate(values)
    ]


def test_mcnemar_exact_values() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    # all 10 discordant pairs favour B: two-sided binomial p = 2 * 0.5**10
    assert mcnemar_exact(0, 10) == pytest.approx(2 * 0.5**10)


def test_paired_difference_and_mcnemar_per_task_and_overall() -> None:
    protocol = fake_protocol(episodes=10, success=True)
    a = _records(protocol, {"a": [False] * 10, "b": [True] * 10})
    b = _records(protocol, {"a": [True] * 10, "b": [True] * 10})
    result = paired_comparison(protocol, a, b)
    assert result["tasks"]["a"]["difference"]["mean"] == 1.0
    assert result["tasks"]["a"]["mcnemar"] == {"a_only": 0, "b_only": 10, "p_value": pytest.approx(2 * 0.5**10),
                                               "p_holm": pytest.approx(2 * 2 * 0.5**10)}
    assert result["tasks"]["b"]["difference"] == {"mean": 0.0, "ci95": [0.0, 0.0]}
    assert result["overall"]["difference"]["mean"] == 0.5
    assert result["overall"]["n_pairs"] == 20


def test_runs_of_different_plans_are_not_paired() -> None:
    protocol = fake_protocol(episodes=3, success=True)
    a = _records(protocol, {"a": [True] * 3})
    b = _records(protocol, {"a": [True] * 3})
    b[1].seed += 1
    with pytest.raises(UserError, match="do not follow the same episode plan"):
        paired_comparison(protocol, a, b)


def test_both_arms_newcombe_in_percentage_points_and_a_verdict() -> None:
    protocol = fake_protocol(episodes=40, success=True, tasks=[{"name": "a", "env_id": "fake"}])
    # A wins 10/40, B wins 24/40; both on 8, A only on 2, B only on 16
    outcome_a = [True] * 8 + [True] * 2 + [False] * 16 + [False] * 14
    outcome_b = [True] * 8 + [False] * 2 + [True] * 16 + [False] * 14
    result = paired_comparison(protocol, _records(protocol, {"a": outcome_a}), _records(protocol, {"a": outcome_b}))
    overall = result["overall"]
    assert overall["a"]["mean"] == 0.25 and overall["b"]["mean"] == 0.6
    assert overall["newcombe"]["mean"] == pytest.approx(0.35)
    low, high = newcombe_paired_interval(8, 16, 2, 14)
    assert overall["newcombe"]["ci95"] == [low, high] and 0 < low < 0.35 < high
    assert result["verdict"].startswith("B is better at the 5% level on 40 paired episodes: B − A = +35.0 pp")
    assert result["verdict"].endswith("exact McNemar p = 0.00131")  # 2 * (1 + 18 + 153) / 2**18
    same = paired_comparison(protocol, _records(protocol, {"a": outcome_a}), _records(protocol, {"a": outcome_a}))
    assert same["verdict"].startswith("no significant difference at the 5% level")
