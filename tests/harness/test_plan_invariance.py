"""The same deterministic policy gives identical per-episode records however the run is scheduled."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict, Unpack

import pytest
from vlab_fakes import BatchedLinearPolicy, LinearPolicy, fake_protocol

import vla_bench
from vla_bench.harness.api import EvalResult
from vla_bench.harness.bundle import EPISODES_FILE, read_episodes
from vla_bench.harness.eval_config import Placement
from vla_bench.protocols import get_protocol


def _outcomes(result: EvalResult) -> dict[tuple[str, int], dict[str, object]]:
    return {r.key: r.outcome() for r in result.records}


class Schedule(TypedDict, total=False):
    """How a run is scheduled: what must not change its records."""

    workers: int
    envs_per_worker: int
    schedule_seed: int
    policy_placement: Placement


SCHEDULES: list[Schedule] = [
    {"workers": 1, "envs_per_worker": 1},
    {"workers": 2, "envs_per_worker": 1},
    {"workers": 1, "envs_per_worker": 5},
    {"workers": 2, "envs_per_worker": 3, "schedule_seed": 7},  # shuffled start (and so completion) order
]


def test_records_do_not_depend_on_workers_batch_size_or_order_fake_env() -> None:
    protocol = fake_protocol(episodes=7)
    reference = _outcomes(vla_bench.evaluate(LinearPolicy, protocol, **SCHEDULES[0]))
    assert len(reference) == 14
    for schedule in SCHEDULES[1:]:
        assert _outcomes(vla_bench.evaluate(LinearPolicy, protocol, **schedule)) == reference, schedule


def test_a_batched_policy_is_called_once_per_lane_and_gives_the_same_records() -> None:
    protocol = fake_protocol(episodes=7)
    reference = _outcomes(vla_bench.evaluate(LinearPolicy, protocol))
    batched = BatchedLinearPolicy(action_dim=2)
    assert _outcomes(vla_bench.evaluate(batched, protocol, workers=1, envs_per_worker=6)) == reference
    assert max(batched.batch_sizes) == 3  # six slots in two lanes of three


@pytest.mark.parametrize("agent", ["baseline:random", "vlab_fakes:LinearPolicy"])
def test_records_do_not_depend_on_schedule_on_mujoco(agent: str) -> None:
    protocol = get_protocol("mujoco/locomotion@v1")
    runs = [vla_bench.evaluate(agent, protocol, limit_episodes=2, **schedule) for schedule in SCHEDULES[1:3]]
    first, second = (_outcomes(run) for run in runs)
    assert len(first) == 8
    assert first == second
    assert runs[0].scores == runs[1].scores


def test_a_resumed_run_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    protocol = fake_protocol(episodes=6)
    whole = vla_bench.evaluate(LinearPolicy, protocol, out=tmp_path / "whole")
    partial_dir = tmp_path / "partial"
    vla_bench.evaluate(LinearPolicy, protocol, out=partial_dir)
    lines = (partial_dir / EPISODES_FILE).read_text().splitlines(keepends=True)
    # keep 5 finished episodes and half of a sixth line, as a killed writer would leave it
    (partial_dir / EPISODES_FILE).write_text("".join(lines[:5]) + lines[5][: len(lines[5]) // 2])
    resumed = vla_bench.evaluate(LinearPolicy, protocol, out=partial_dir, resume=True)
    assert _outcomes(resumed) == _outcomes(whole)
    on_disk = read_episodes(partial_dir / EPISODES_FILE)
    assert len(on_disk) == 12
    assert resumed.summary["status"] == "complete"
    assert resumed.scores == whole.scores


def test_collected_trajectories_with_noise_do_not_depend_on_schedule() -> None:
    from vla_bench.agents.loaders import agent_from_object
    from vla_bench.harness.eval_config import EvalConfig
    from vla_bench.harness.runner import run_evaluation

    protocol = fake_protocol(episodes=5)

    def collect(**schedule: Unpack[Schedule]) -> dict:
        kept: dict = {}
        options = EvalConfig(progress=False, action_noise=0.3, trajectory_sink=lambda r, t: kept.__setitem__(r.key, t),
                             **schedule)
        run_evaluation(protocol, agent_from_object(LinearPolicy), None, options)
        return kept

    first, second = collect(workers=1, envs_per_worker=1), collect(workers=2, envs_per_worker=3)
    assert first.keys() == second.keys() and len(first) == 10
    for key, trajectory in first.items():
        other = second[key]
        assert len(trajectory) == len(trajectory.observations) == len(trajectory.next_observations)
        assert len(trajectory.rewards) == len(trajectory.terminals) == len(trajectory.timeouts) == len(trajectory)
        assert trajectory.terminals[-1] or trajectory.timeouts[-1]
        for field in ("observations", "actions", "next_observations"):
            assert all((a == b).all() for a, b in zip(getattr(trajectory, field), getattr(other, field), strict=True))
        # next_observations[t] is observations[t + 1]
        assert all((a == b).all() for a, b in zip(trajectory.next_observations[:-1], trajectory.observations[1:],
                                                  strict=True))


# ------------------------------------------------------------------------- where the policy runs
PLACED: list[Schedule] = [
    {"policy_placement": "central", "workers": 1, "envs_per_worker": 1},
    {"policy_placement": "worker", "workers": 1, "envs_per_worker": 1},
    {"policy_placement": "worker", "workers": 2, "envs_per_worker": 3, "schedule_seed": 3},
    {"policy_placement": "central", "workers": 2, "envs_per_worker": 5, "schedule_seed": 5},
]


def test_records_do_not_depend_on_where_the_policy_runs_fake_env() -> None:
    from vlab_fakes import WorkerSafeLinearPolicy

    protocol = fake_protocol(episodes=7)
    runs = [vla_bench.evaluate(WorkerSafeLinearPolicy, protocol, **schedule) for schedule in PLACED]
    assert [run.summary["run"]["policy_placement"] for run in runs] == [s["policy_placement"] for s in PLACED]
    reference = _outcomes(runs[0])
    assert len(reference) == 14
    for schedule, run in zip(PLACED[1:], runs[1:], strict=True):
        assert _outcomes(run) == reference, schedule


@pytest.mark.slow  # ~20 s on a loaded 2-core machine; the fake-env tests above cover the same invariance
def test_a_batched_onnx_policy_gives_the_same_records_in_the_workers_and_centrally_on_mujoco() -> None:
    protocol = get_protocol("mujoco/hopper@v1")
    central = vla_bench.evaluate("baseline:ppo-hopper", protocol, limit_episodes=4, policy_placement="central")
    placed = vla_bench.evaluate("baseline:ppo-hopper", protocol, limit_episodes=4, workers=2, envs_per_worker=2,
                                policy_placement="worker")
    assert placed.summary["run"]["policy_placement"] == "worker"
    assert _outcomes(central) == _outcomes(placed)
    assert all(r.length > 1 for r in placed.records)


def test_a_run_placed_in_the_workers_resumed_centrally_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    from vlab_fakes import WorkerSafeLinearPolicy

    protocol = fake_protocol(episodes=6)
    whole = vla_bench.evaluate(WorkerSafeLinearPolicy, protocol, policy_placement="central")
    partial_dir = tmp_path / "partial"
    vla_bench.evaluate(WorkerSafeLinearPolicy, protocol, out=partial_dir, workers=2, policy_placement="worker")
    lines = (partial_dir / EPISODES_FILE).read_text().splitlines(keepends=True)
    (partial_dir / EPISODES_FILE).write_text("".join(lines[:7]))
    resumed = vla_bench.evaluate(WorkerSafeLinearPolicy, protocol, out=partial_dir, resume=True,
                                 policy_placement="central")
    assert _outcomes(resumed) == _outcomes(whole)
    assert resumed.summary["status"] == "complete"


def test_collected_noisy_trajectories_do_not_depend_on_where_the_policy_runs() -> None:
    from vlab_fakes import WorkerSafeLinearPolicy

    from vla_bench.agents.loaders import agent_from_object
    from vla_bench.harness.eval_config import EvalConfig
    from vla_bench.harness.runner import run_evaluation

    protocol = fake_protocol(episodes=3)

    def collect(placement: Placement) -> dict:
        kept: dict = {}
        options = EvalConfig(progress=False, action_noise=0.3, workers=2, envs_per_worker=2,
                             policy_placement=placement, trajectory_sink=lambda r, t: kept.__setitem__(r.key, t))
        run_evaluation(protocol, agent_from_object(WorkerSafeLinearPolicy), None, options)
        return kept

    central, placed = collect("central"), collect("worker")
    assert central.keys() == placed.keys() and len(central) == 6
    for key, trajectory in central.items():
        other = placed[key]
        for field in ("observations", "actions", "next_observations"):
            assert all((a == b).all() for a, b in zip(getattr(trajectory, field), getattr(other, field), strict=True))
        assert (trajectory.rewards, trajectory.terminals, trajectory.timeouts) == (
            other.rewards, other.terminals, other.timeouts)
