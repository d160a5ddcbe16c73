"""Scores: Wilson and t intervals, D4RL normalization, errors as failures, bootstrap aggregates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from vlab_fakes import fake_protocol

from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import episode_spec
from vla_bench.scoring.scores import compute_scores, mean_interval, wilson_interval
from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.summary import EstimateJson


def _present(estimate: EstimateJson | None) -> tuple[float, float, float]:
    """(mean, low, high) of an estimate that must be there, with every number finite."""
    assert estimate is not None
    mean, (low, high) = estimate["mean"], estimate["ci95"]
    assert mean is not None and low is not None and high is not None
    return mean, low, high


def _record(protocol: Protocol, task: str, index: int, *, total_return: float = 0.0, success: bool | None = None,
            error: str | None = None, length: int = 10, success_step: int | None = None) -> EpisodeRecord:
    spec = episode_spec(protocol, task, index)
    return EpisodeRecord(task=task, episode_index=index, seed=spec.seed, init_index=None, total_return=total_return,
                         length=length, success=success, success_step=success_step, error=error,
                         error_kind="policy_error" if error else None)


def test_wilson_interval_matches_the_textbook_values() -> None:
    # Wilson score interval for 8/10 at 95%: [0.4902, 0.9433] (Newcombe 1998, Table I method 3)
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 50)[0] == 0.0
    assert wilson_interval(50, 50)[1] == 1.0


def test_mean_interval_is_student_t() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    mean, low, high = mean_interval(values)
    expected = stats.t.interval(0.95, 4, loc=np.mean(values), scale=stats.sem(values))
    assert (low, high) == pytest.approx(expected)
    assert mean == 4.0
    assert mean_interval([3.0]) == (3.0, 3.0, 3.0)


def test_d4rl_normalization_of_hopper() -> None:
    protocol = get_protocol("mujoco/hopper@v1")
    # REFERENCE.md §1.2: hopper REF_MIN -20.272305, REF_MAX 3234.3 -> the expert return scores 100
    records = [_record(protocol, "hopper", i, total_return=3234.3) for i in range(3)]
    scores = compute_scores(protocol, records)
    assert _present(scores["tasks"]["hopper"]["normalized_score"])[0] == pytest.approx(100.0)
    records = [_record(protocol, "hopper", i, total_return=r) for i, r in enumerate([-20.272305, 3234.3])]
    mean, low, high = _present(compute_scores(protocol, records)["tasks"]["hopper"]["normalized_score"])
    assert mean == pytest.approx(50.0)
    assert low < 50.0 < high
    assert _present(compute_scores(protocol, records)["aggregate"]["mean"])[0] == pytest.approx(50.0)


def test_errors_count_as_failures_and_completion_time_uses_successes_only() -> None:
    protocol = fake_protocol(episodes=4, success=True, tasks=[{"name": "a", "env_id": "fake"}])
    records = [
        _record(protocol, "a", 0, success=True, success_step=7),
        _record(protocol, "a", 1, success=True, success_step=9),
        _record(protocol, "a", 2, success=False),
        _record(protocol, "a", 3, success=True, error="boom", success_step=3),
    ]
    task = compute_scores(protocol, records)["tasks"]["a"]
    success = task["success_rate"]
    assert success is not None and success["mean"] == 0.5
    assert success["successes"] == 2
    assert task["completion_steps"] == 8.0
    assert task["n_errors"] == 1


def test_aggregate_mean_and_iqm_with_stratified_bootstrap() -> None:
    protocol = fake_protocol(episodes=20)
    rng = np.random.default_rng(1)
    returns = {"a": rng.normal(10, 2, 20), "b": rng.normal(0, 1, 20)}
    records = [_record(protocol, task, i, total_return=float(r)) for task, values in returns.items()
               for i, r in enumerate(values)]
    aggregate = compute_scores(protocol, records)["aggregate"]
    mean, low, high = _present(aggregate["mean"])
    assert mean == pytest.approx((returns["a"].mean() + returns["b"].mean()) / 2)
    # two task scores: a 25% trim removes nothing, so the IQM is withheld and says why
    assert aggregate["iqm"] is None
    note = aggregate["iqm_note"]
    assert note is not None and "at least 4 task scores" in note and "there are 2" in note
    assert (aggregate["interval_method"] or "").startswith("stratified bootstrap")
    assert low < mean < high
    # stratified: the interval reflects within-task noise only (~ sd/sqrt(n) per task), far narrower than
    # the spread between the two tasks' means
    assert high - low < 2.5
    # deterministic: recomputing gives the same numbers, whatever order the records come in
    assert compute_scores(protocol, list(reversed(records))) == compute_scores(protocol, records)


def test_non_finite_returns_are_stored_as_null_and_score_as_zero() -> None:
    protocol = fake_protocol(episodes=2, tasks=[{"name": "a", "env_id": "fake"}])
    records = [_record(protocol, "a", 0, total_return=math.nan), _record(protocol, "a", 1, total_return=4.0)]
    assert records[0].to_json()["total_return"] is None
    assert _present(compute_scores(protocol, records)["tasks"]["a"]["mean_return"])[0] == 2.0


def _tasks(n: int) -> list[dict[str, str]]:
    return [{"name": f"t{i}", "env_id": "fake"} for i in range(n)]


def test_iqm_is_rliables_trimmed_mean_of_task_scores_on_a_hand_case() -> None:
    # 8 tasks with success rates 0/4 .. 7/4 capped: per-task rates r = [0, .25, .5, .75, 1, 1, 1, 1];
    # rliable's aggregate_iqm = trim_mean(scores, 0.25) drops 2 from each end: mean(.5, .75, 1, 1) = 0.8125
    protocol = fake_protocol(episodes=4, success=True, tasks=_tasks(8))
    wins = [0, 1, 2, 3, 4, 4, 4, 4]
    records = [_record(protocol, f"t{t}", i, success=i < w) for t, w in enumerate(wins) for i in range(4)]
    aggregate = compute_scores(protocol, records)["aggregate"]
    iqm, low, high = _present(aggregate["iqm"])
    assert iqm == pytest.approx(0.8125)
    assert iqm == pytest.approx(stats.trim_mean(np.array(wins) / 4, 0.25))
    assert aggregate["iqm_note"] is None
    assert low <= 0.8125 <= high
    # not the pooled-episode trimmed mean (0.875 here: on 0/1 outcomes it only counts the middle half's ones)
    pooled = np.array([1.0 if i < w else 0.0 for w in wins for i in range(4)])
    assert stats.trim_mean(pooled, 0.25) == 0.875


def test_a_single_task_headline_is_the_task_interval() -> None:
    protocol = get_protocol("mujoco/hopper@v1")
    rng = np.random.default_rng(3)
    records = [_record(protocol, "hopper", i, total_return=float(r)) for i, r in enumerate(rng.normal(900, 80, 50))]
    scores = compute_scores(protocol, records)
    assert scores["aggregate"]["mean"] == scores["tasks"]["hopper"]["normalized_score"]
    assert scores["aggregate"]["interval_method"] == "Student t interval over episodes"
    assert scores["aggregate"]["iqm"] is None
