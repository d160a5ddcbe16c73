"""The executor's run-level behaviour: failed starts, balanced scheduling, placement in the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from vlab_fakes import LinearPolicy, WorkerSafeLinearPolicy, fake_protocol

import vla_bench
from vla_bench.agents.loaders import agent_from_object
from vla_bench.harness.bundle import EPISODES_FILE, SUMMARY_FILE
from vla_bench.harness.episode import Episode
from vla_bench.harness.lanes import Book, Lane
from vla_bench.harness.local_executor import ExecutorConfig, LocalExecutor
from vla_bench.harness.scheduling import envs_per_worker
from vla_bench.harness.worker_pool import WorkerStartError
from vla_bench.protocols.plan import limited_plan
from vla_bench.spec import EpisodeRecord
from vla_bench.spec.errors import UserError


def test_a_run_whose_workers_cannot_start_records_nothing_and_resume_runs_every_episode(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    protocol = fake_protocol(episodes=3)
    monkeypatch.setenv("VLAB_FAKES_BROKEN", "1")
    with pytest.raises(WorkerStartError, match=r"simulated missing benchmark assets.*6 episodes not run yet"):
        vla_bench.evaluate(LinearPolicy, protocol, out=tmp_path, workers=2)
    summary = json.loads((tmp_path / SUMMARY_FILE).read_text())
    assert summary["status"] == "aborted" and "simulated missing benchmark assets" in summary["run"]["aborted"]
    assert summary["n_episodes_done"] == 0
    assert not (tmp_path / EPISODES_FILE).read_text().strip()  # no episode recorded as failed
    monkeypatch.delenv("VLAB_FAKES_BROKEN")
    resumed = vla_bench.evaluate(LinearPolicy, protocol, out=tmp_path, resume=True, workers=2)
    assert resumed.summary["status"] == "complete"
    assert len(resumed.records) == 6 and all(r.error is None for r in resumed.records)


def test_episodes_are_spread_over_the_workers() -> None:
    assert envs_per_worker(10, 2, 8) == 5  # 5 and 5, not 8 and 2
    assert envs_per_worker(3, 2, 8) == 2
    assert envs_per_worker(100, 4, 8) == 8
    assert envs_per_worker(1, 1, 8) == 1
    # ~1 GB per environment, 3 GB free: two workers get one environment each (0.8 of free memory is used)
    assert envs_per_worker(10, 2, 8, env_memory_gb=1.0, available_gb=3.0) == 1
    assert envs_per_worker(10, 2, 8, env_memory_gb=0.1, available_gb=64.0) == 5


@pytest.mark.parametrize("policy", [LinearPolicy, WorkerSafeLinearPolicy])
def test_ten_episodes_on_two_workers_run_five_on_each(policy: type, monkeypatch: pytest.MonkeyPatch) -> None:
    protocol = fake_protocol(episodes=10, tasks=[{"name": "a", "env_id": "fake"}])
    started: dict[int, int] = {}
    start = Book.start

    def counting(self: Book, lane: Lane) -> list[tuple[int, Episode, str | None]]:
        new = start(self, lane)
        started[lane.worker.index] = started.get(lane.worker.index, 0) + len(new)
        return new

    monkeypatch.setattr(Book, "start", counting)
    executor = LocalExecutor(protocol, agent_from_object(policy), ExecutorConfig(workers=2, envs_per_worker=8))
    records: list[EpisodeRecord] = []
    executor.run(limited_plan(protocol, None), records.append)
    assert len(records) == 10
    assert started == {0: 5, 1: 5}
    assert executor.placement == ("worker" if policy is WorkerSafeLinearPolicy else "central")


def test_a_benchmark_declaring_a_large_memory_cost_gets_fewer_environments_per_worker(
        monkeypatch: pytest.MonkeyPatch) -> None:
    protocol = fake_protocol(episodes=6, tasks=[{"name": "a", "env_id": "fake"}])
    monkeypatch.setenv("VLAB_FAKE_ENV_GB", "1000000")  # no machine holds two of these
    executor = LocalExecutor(protocol, agent_from_object(LinearPolicy), ExecutorConfig(workers=1, envs_per_worker=8))
    records: list[EpisodeRecord] = []
    executor.run(limited_plan(protocol, None), records.append)
    assert len(records) == 6 and executor._envs == 1


def test_the_placement_is_recorded_in_the_bundle_and_can_be_forced(tmp_path: Path) -> None:
    protocol = fake_protocol(episodes=1)
    vla_bench.evaluate(WorkerSafeLinearPolicy, protocol, out=tmp_path / "auto")
    run = json.loads((tmp_path / "auto" / SUMMARY_FILE).read_text())["run"]
    assert run["policy_placement"] == "worker"
    central = vla_bench.evaluate(WorkerSafeLinearPolicy, protocol, policy_placement="central")
    assert central.summary["run"]["policy_placement"] == "central"
    for timings in (run["timings"], central.summary["run"]["timings"]):  # start-up, reported by the workers
        assert 0 < timings["first_step_s"] <= timings["wall_s"]
    undeclared = vla_bench.evaluate(LinearPolicy, protocol)
    assert undeclared.summary["run"]["policy_placement"] == "central"  # not declared safe per process
    forced = vla_bench.evaluate(LinearPolicy, protocol, policy_placement="worker")
    assert forced.summary["run"]["policy_placement"] == "worker"
    def local_factory() -> LinearPolicy:  # not importable by name: no worker can build it
        return LinearPolicy()

    with pytest.raises(UserError, match="cannot be built inside an env worker"):
        vla_bench.evaluate(local_factory, protocol, policy_placement="worker")


@pytest.mark.parametrize("policy", [WorkerSafeLinearPolicy, LinearPolicy])  # worker and central placement
def test_on_started_comes_once_at_the_first_reply_before_any_record(policy: type) -> None:
    protocol = fake_protocol(episodes=3)
    executor = LocalExecutor(protocol, agent_from_object(policy), ExecutorConfig(workers=1, envs_per_worker=2))
    events: list[str] = []
    executor.run(limited_plan(protocol, None), lambda record: events.append("record"),
                 lambda: events.append("started"))
    assert events[0] == "started" and events.count("started") == 1 and len(events) > 3
    assert executor.first_step_at is not None
