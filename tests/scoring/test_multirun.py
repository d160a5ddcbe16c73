"""Several training runs of one method: runs x tasks scores, rliable's IQM and stratified bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from vlab_fakes import fake_protocol

from vla_bench.protocols.plan import episode_spec
from vla_bench.scoring.multirun import multirun_aggregate, stratified_run_bootstrap
from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.errors import UserError


def _run(protocol: Protocol, returns: dict[str, list[float]]) -> list[EpisodeRecord]:
    return [EpisodeRecord(task=t, episode_index=i, seed=episode_spec(protocol, t, i).seed, init_index=None,
                          total_return=v, length=5, success=None)
            for t, values in returns.items() for i, v in enumerate(values)]


def test_iqm_over_runs_by_tasks_on_a_hand_case() -> None:
    protocol = fake_protocol(episodes=2, tasks=[{"name": "a", "env_id": "fake"}, {"name": "b", "env_id": "fake"}])
    # task scores (mean of 2 episodes): run 1: a=1, b=8; run 2: a=2, b=7; run 3: a=3, b=100
    runs = [_run(protocol, {"a": [0.0, 2.0], "b": [8.0, 8.0]}), _run(protocol, {"a": [2.0, 2.0], "b": [6.0, 8.0]}),
            _run(protocol, {"a": [3.0, 3.0], "b": [100.0, 100.0]})]
    result = multirun_aggregate(protocol, runs)
    assert result["task_scores"] == [[1.0, 8.0], [2.0, 7.0], [3.0, 100.0]]
    # rliable: IQM = trim_mean of the 6 flattened scores, cutting int(0.25 * 6) = 1 at each end: mean(2, 3, 7, 8)
    iqm = result["iqm"]
    assert iqm is not None and iqm["mean"] == pytest.approx(5.0)
    assert iqm["mean"] == pytest.approx(stats.trim_mean([1, 8, 2, 7, 3, 100], 0.25))
    assert result["mean"]["mean"] == pytest.approx(121 / 6)
    assert result["n_runs"] == 3 and result["iqm_note"] is None
    low, high = result["mean"]["ci95"]
    assert low <= result["mean"]["mean"] <= high


def test_the_bootstrap_resamples_runs_within_tasks() -> None:
    same = np.array([[1.0, 5.0], [1.0, 5.0], [1.0, 5.0]])  # runs agree on each task: no spread to resample
    assert stratified_run_bootstrap(same)["mean"] == (3.0, 3.0)
    spread = np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0]])
    low, high = stratified_run_bootstrap(spread)["mean"]
    assert 2.0 <= low < 3.0 < high <= 3.5  # only task a varies: the mean moves by at most half its spread


def test_one_run_or_a_missing_task_is_refused() -> None:
    protocol = fake_protocol(episodes=1)
    with pytest.raises(UserError, match="at least 2 runs"):
        multirun_aggregate(protocol, [_run(protocol, {"a": [1.0], "b": [1.0]})])
    with pytest.raises(UserError, match="no episodes of task 'b'"):
        multirun_aggregate(protocol, [_run(protocol, {"a": [1.0], "b": [1.0]}), _run(protocol, {"a": [1.0]})])
