"""``--executor ray`` gives exactly the local executor's records: same plan, same episodes, same faults.

One local Ray instance (``num_cpus=2``, token auth off) serves the whole module; its session directory is
private and removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from vlab_fakes import LinearPolicy, fake_protocol

from vla_bench.agents.loaders import agent_from_object, load_agent
from vla_bench.harness.bundle import read_bundle
from vla_bench.harness.eval_config import EvalConfig, ExecutorName
from vla_bench.harness.merge import merge_bundles
from vla_bench.harness.runner import run_evaluation
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import Observation, Protocol, TaskSpec

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    previous = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    temp = tempfile.mkdtemp(prefix="vlab-ray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING", _temp_dir=temp)
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
        if previous is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = previous


class MixedPolicy(LinearPolicy):
    """Chunks of 3 actions (later ones out of bounds, so clipped) and a raise in the episode with ``bad_seed``."""

    def __init__(self, bad_seed: int) -> None:
        super().__init__()
        self.bad_seed = bad_seed
        self._seed: int | None = None
        self._calls = 0

    def reset(self, task: TaskSpec) -> None:
        super().reset(task)
        self._seed, self._calls = task.episode_seed, 0

    def act(self, observation: Observation) -> np.ndarray:
        self._calls += 1
        if self._seed == self.bad_seed and self._calls == 3:
            raise ValueError("policy bug")
        single = super().act(observation)
        return np.stack([single * (1 + i) for i in range(3)])


def _records(protocol: Protocol, policy: Any, executor: ExecutorName, **options: Any) -> dict:
    settings = {"workers": 2, "envs_per_worker": 3, "progress": False, **options}
    result = run_evaluation(protocol, agent_from_object(policy), None, EvalConfig(executor=executor, **settings))
    return {record.key: record.outcome() for record in result.records}


def test_ray_records_equal_local_records_with_chunks_clipping_and_policy_errors(ray_address: str) -> None:
    protocol = fake_protocol(episodes=7)
    bad = episode_spec(protocol, "b", 4)
    local = _records(protocol, lambda: MixedPolicy(bad.seed), "local")
    on_ray = _records(protocol, lambda: MixedPolicy(bad.seed), "ray")
    assert on_ray == local
    assert len(on_ray) == 14
    assert on_ray[("b", 4)]["error_kind"] == "policy_error"
    assert sum(r["clipped_steps"] for r in on_ray.values()) > 0


def test_ray_with_the_policy_in_its_workers_gives_the_local_central_records(ray_address: str) -> None:
    from vlab_fakes import WorkerSafeLinearPolicy

    protocol = fake_protocol(episodes=5)
    central = _records(protocol, WorkerSafeLinearPolicy, "local", policy_placement="central")
    on_ray = _records(protocol, WorkerSafeLinearPolicy, "ray", policy_placement="worker")
    assert on_ray == central and len(on_ray) == 10


def test_ray_env_faults_crashes_and_hangs_match_the_local_executor(ray_address: str) -> None:
    tasks = [
        {"name": "a", "env_id": "fake", "env_kwargs": {"fault": "exit", "fault_episode": 1, "fault_step": 2}},
        {"name": "b", "env_id": "fake", "env_kwargs": {"fault": "raise", "fault_episode": 1, "fault_step": 3}},
        {"name": "c", "env_id": "fake", "env_kwargs": {"fault": "hang", "fault_episode": 0, "fault_step": 2}},
    ]
    protocol = fake_protocol(tasks=tasks, episodes=2)
    # one episode per worker: a hang fails only itself; 8 s, not less: a loaded CI machine must not look hung
    options = {"envs_per_worker": 1, "env_timeout": 8.0}
    local = _records(protocol, LinearPolicy, "local", **options)
    on_ray = _records(protocol, LinearPolicy, "ray", **options)
    assert on_ray == local
    assert on_ray[("a", 1)]["error_kind"] == "env_crash"
    assert "exited with code 3" in on_ray[("a", 1)]["error"]
    assert on_ray[("b", 1)]["error_kind"] == "env_error"
    assert on_ray[("c", 0)]["error_kind"] == "env_timeout"
    assert sum(r["error"] is not None for r in on_ray.values()) == 3
    assert len(on_ray) == 6


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(TESTS), RAY_AUTH_MODE="disabled", COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "vla_bench.cli", *args], capture_output=True, text=True,
                          timeout=240, env=env)


def test_ray_shards_merge_into_the_local_run(ray_address: str, tmp_path: Path) -> None:
    """Shard 0 from the command line (connecting to the cluster by --address), shard 1 through the API."""
    from vla_bench.protocols import get_protocol

    protocol = get_protocol("mujoco/hopper@v1")
    run = _cli("eval", "--agent", "vlab_fakes:LinearPolicy", "--protocol", protocol.id, "--limit-episodes", "5",
               "--executor", "ray", "--address", ray_address, "--shard", "0/2", "--workers", "2",
               "--envs-per-worker", "2", "--out", str(tmp_path / "shard0"), "--format", "json")
    assert run.returncode == 0, run.stderr
    run_evaluation(protocol, load_agent("vlab_fakes:LinearPolicy"), tmp_path / "shard1",
                   EvalConfig(limit_episodes=5, executor="ray", shard=(1, 2), workers=2, envs_per_worker=2,
                              progress=False))
    shards = [read_bundle(tmp_path / f"shard{i}") for i in range(2)]
    assert sorted(len(shard.records) for shard in shards) == [2, 3]
    assert all(shard.summary["run"]["executor"] == "ray" for shard in shards)
    summary = merge_bundles([tmp_path / "shard0", tmp_path / "shard1"], tmp_path / "merged")

    whole = run_evaluation(protocol, load_agent("vlab_fakes:LinearPolicy"), tmp_path / "whole",
                           EvalConfig(limit_episodes=5, progress=False))
    merged_records = {r.key: r.outcome() for r in read_bundle(tmp_path / "merged").records}
    assert merged_records == {r.key: r.outcome() for r in whole.records}
    assert summary["scores"] == whole.scores


def test_ray_executor_reports_an_unreachable_cluster_as_a_user_error(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(TESTS), RAY_AUTH_MODE="disabled")
    run = subprocess.run([sys.executable, "-m", "vla_bench.cli", "eval", "--agent", "baseline:zero", "--protocol",
                          "mujoco/hopper@v1", "--limit-episodes", "1", "--executor", "ray", "--address",
                          "127.0.0.1:9", "--out", str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=240, env=env)
    assert run.returncode == 2, run.stderr
    assert "cannot start or reach the Ray cluster at 127.0.0.1:9" in run.stderr
