"""A worker crash with several live episodes: innocent episodes are rerun alone and the run completes."""

from __future__ import annotations

import pytest
from vlab_fakes import LinearPolicy, fake_protocol

import vla_bench


@pytest.mark.parametrize(("workers", "envs_per_worker"), [(1, 2), (1, 5), (2, 3), (2, 8)])
def test_crash_retries_complete_for_every_lane_layout(workers: int, envs_per_worker: int) -> None:
    tasks = [{"name": "a", "env_id": "fake", "env_kwargs": {"fault": "exit", "fault_episode": 3, "fault_step": 4}},
             {"name": "b", "env_id": "fake", "env_kwargs": {"fault": "exit", "fault_episode": 0, "fault_step": 1}}]
    protocol = fake_protocol(tasks=tasks, episodes=8)
    result = vla_bench.evaluate(LinearPolicy, protocol, workers=workers, envs_per_worker=envs_per_worker,
                                env_timeout=30)
    failed = sorted(r.key for r in result.records if r.error)
    assert failed == [("a", 3), ("b", 0)]
    assert len(result.records) == 16
    assert all(r.error_kind == "env_crash" for r in result.records if r.error)
