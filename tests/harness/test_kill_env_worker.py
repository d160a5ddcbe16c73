"""Killing an env worker mid-episode is survived: a real protocol (Hopper-v5) through the local executor.

The policy, which runs in the orchestrator, SIGKILLs the env worker process (found among this process's
children in /proc) in the middle of a chosen episode, while that episode is live on the worker. The run must
record that episode as an env_crash naming the signal (or, when the worker hosted several live episodes and the
culprit is unknown, re-run them alone, as the executor does), start a new worker, and finish every episode.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

import vla_bench
from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import Observation, TaskSpec

PROTOCOL = "mujoco/hopper@v1"


def env_worker_pids() -> list[int]:
    """Env worker processes that are children of this process."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
        if parent == os.getpid() and b"vla_bench.harness.env_worker" in command:
            found.append(int(stat.parent.name))
    return found


def killing_policy(victim_seed: int, at_call: int, kills: list[int]) -> Callable[[], object]:
    """Random actions; at the ``at_call``-th action of the episode seeded ``victim_seed``, SIGKILL the workers."""

    class Policy:
        def reset(self, task: TaskSpec) -> None:
            self.task, self.calls = task, 0
            self.rng = np.random.default_rng(task.episode_seed)

        def act(self, observation: Observation) -> NDArray[np.float32]:
            self.calls += 1
            if self.task.episode_seed == victim_seed and self.calls == at_call and not kills:
                for pid in env_worker_pids():
                    os.kill(pid, signal.SIGKILL)
                    kills.append(pid)
            low, high = np.asarray(self.task.action_low), np.asarray(self.task.action_high)
            return self.rng.uniform(low, high).astype(np.float32)

    return Policy


def test_a_worker_killed_mid_episode_fails_that_episode_and_the_run_finishes() -> None:
    protocol = get_protocol(PROTOCOL)
    victim = episode_spec(protocol, "hopper", 1)
    kills: list[int] = []
    result = vla_bench.evaluate(killing_policy(victim.seed, at_call=3, kills=kills), PROTOCOL, limit_episodes=4,
                                workers=1, envs_per_worker=1)
    assert len(kills) == 1
    records = {r.episode_index: r for r in result.records}
    assert sorted(records) == [0, 1, 2, 3]  # every episode is recorded, once
    crashed = records[1]
    assert crashed.error_kind == "env_crash"
    assert "killed by signal SIGKILL" in (crashed.error or "")
    assert crashed.length == 2  # two steps were taken before the third action was asked for
    assert all(r.error is None and r.length > 0 for i, r in records.items() if i != 1)
    assert result.scores["tasks"]["hopper"]["n_errors"] == 1
    assert kills[0] not in env_worker_pids()  # reaped; its replacement ran episodes 2 and 3


def test_a_worker_killed_with_several_live_episodes_reruns_them_alone() -> None:
    protocol = get_protocol(PROTOCOL)
    victim = episode_spec(protocol, "hopper", 0)
    kills: list[int] = []
    result = vla_bench.evaluate(killing_policy(victim.seed, at_call=3, kills=kills), PROTOCOL, limit_episodes=5,
                                workers=1, envs_per_worker=2)
    assert len(kills) == 1
    assert sorted(r.episode_index for r in result.records) == [0, 1, 2, 3, 4]
    # the culprit is unknown: both live episodes ran again alone on the new worker, and succeeded there
    assert all(r.error is None and r.length > 0 for r in result.records)
    reference = vla_bench.evaluate(killing_policy(-1, at_call=3, kills=[]), PROTOCOL, limit_episodes=5,
                                   workers=1, envs_per_worker=2)
    assert [(r.episode_index, r.length, r.total_return) for r in sorted(result.records, key=lambda r: r.key)] == [
        (r.episode_index, r.length, r.total_return) for r in sorted(reference.records, key=lambda r: r.key)]
