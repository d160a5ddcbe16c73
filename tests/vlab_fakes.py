"""Test doubles for the harness: a tiny deterministic environment with injectable faults, and policies.

Used only by tests. The env workers import this module by name (``vlab_fakes:FakeAdapter``): pytest puts
``tests/`` on ``sys.path`` and the executor passes its ``sys.path`` on to the workers.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vla_bench.benchmarks.base import BenchmarkAdapter, EnvSession, StepResult
from vla_bench.spec import EpisodeSpec, Observation, Protocol, TaskDef, TaskSpec

STATE_DIM = 3
ACTION_DIM = 2


class FakeSession(EnvSession):
    """A point that moves by the action; the episode length (5..24 steps) and start depend on the seed.

    ``env_kwargs`` inject faults at (episode_index, step): ``fault`` in {raise, exit, segfault, hang},
    ``fault_episode``, ``fault_step``; ``step_sleep`` slows every step down; ``success_at`` makes the
    episode succeed once the state's norm exceeds it.
    """

    def __init__(self, protocol: Protocol, task: TaskDef) -> None:
        self._kwargs: dict[str, Any] = dict(task.env_kwargs)
        self._spec = TaskSpec(name=task.name, instruction=task.instruction, action_low=(-1.0,) * ACTION_DIM,
                              action_high=(1.0,) * ACTION_DIM, max_steps=protocol.max_steps,
                              observation_mode=protocol.observation.mode, state_dim=STATE_DIM)
        self._language = protocol.observation.language
        self._episode: EpisodeSpec | None = None
        self._state = np.zeros(STATE_DIM)
        self._t = 0
        self._length = 0

    @property
    def task_spec(self) -> TaskSpec:
        return self._spec

    def reset(self, episode: EpisodeSpec) -> Observation:
        rng = np.random.default_rng(episode.seed)
        self._episode = episode
        self._state = rng.normal(size=STATE_DIM)
        self._length = int(rng.integers(5, 25))
        self._t = 0
        self._maybe_fault(step=0)
        return self._observation()

    def _observation(self) -> Observation:
        observation: Observation = {"state": self._state.astype(np.float32)}
        if self._language:
            observation["instruction"] = self._spec.instruction
        return observation

    def step(self, action: NDArray[np.float32]) -> StepResult:
        self._t += 1
        self._maybe_fault(step=self._t)
        if self._kwargs.get("step_sleep"):
            time.sleep(float(self._kwargs["step_sleep"]))
        self._state = self._state + 0.1 * np.concatenate([action, [float(action.sum())]])
        reward = float(-np.abs(self._state).sum() + 0.5 * action[0])
        threshold = self._kwargs.get("success_at")
        success = threshold is not None and float(np.linalg.norm(self._state)) > float(threshold)
        return StepResult(observation=self._observation(), reward=reward,
                          terminated=self._t >= self._length, truncated=False, success=success)

    def _maybe_fault(self, step: int) -> None:
        fault = self._kwargs.get("fault")
        if not fault or self._episode is None:
            return
        if self._episode.episode_index != self._kwargs.get("fault_episode") or step != self._kwargs.get("fault_step"):
            return
        if fault == "raise":
            raise RuntimeError("simulated simulator failure")
        if fault == "exit":
            os._exit(3)
        if fault == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        if fault == "hang":
            time.sleep(3600)


class FakeAdapter(BenchmarkAdapter):
    name = "fake"

    @property
    def env_memory_gb(self) -> float | None:  # a declared cost per environment, for the scheduling tests
        return float(os.environ["VLAB_FAKE_ENV_GB"]) if os.environ.get("VLAB_FAKE_ENV_GB") else None

    def make_session(self, protocol: Protocol, task: TaskDef, *, render: bool = False) -> EnvSession:
        return FakeSession(protocol, task)

    def describe(self) -> dict[str, Any]:
        if os.environ.get("VLAB_FAKES_BROKEN"):  # a benchmark whose assets are missing (failed-start tests)
            raise RuntimeError("simulated missing benchmark assets")
        return {"fake": "1"}


def fake_protocol(*, tasks: Sequence[dict[str, Any]] | None = None, episodes: int = 6, max_steps: int = 30,
                  success: bool = False, suite: str = "points", terminate_on_success: bool = False) -> Protocol:
    task_list = list(tasks) if tasks is not None else [{"name": "a", "env_id": "fake"},
                                                       {"name": "b", "env_id": "fake"}]
    return Protocol.model_validate({
        "id": f"fake/{suite}@v1",
        "description": "a test protocol on a fake environment",
        "adapter": "vlab_fakes:FakeAdapter",
        "tasks": task_list,
        "episodes_per_task": episodes,
        "max_steps": max_steps,
        "observation": {"mode": "state"},
        "success": {"kind": "info_flag", "key": "success"} if success else {"kind": "none"},
        "primary_metric": "success_rate" if success else "mean_return",
        "terminate_on_success": terminate_on_success,
    })


class LinearPolicy:
    """Deterministic: a fixed linear map of the state, squashed by tanh (works for any state size)."""

    def __init__(self) -> None:
        self._dim = 0

    def reset(self, task: TaskSpec) -> None:
        self._dim = task.action_dim

    def act(self, observation: Observation) -> NDArray[np.float32]:
        state = np.asarray(observation["state"], dtype=np.float64)
        weights = np.cos(np.arange(self._dim * state.size, dtype=np.float64)).reshape(self._dim, state.size)
        return np.tanh(weights @ state / np.sqrt(state.size)).astype(np.float32)


class BatchedLinearPolicy(LinearPolicy):
    """The same map with the batched form (one shared instance serves every episode)."""

    def __init__(self, action_dim: int) -> None:
        super().__init__()
        self._dim = action_dim
        self.batch_sizes: list[int] = []

    def reset(self, task: TaskSpec) -> None:
        pass

    def act_batch(self, observations: Sequence[Observation]) -> NDArray[np.float32]:
        self.batch_sizes.append(len(observations))
        return np.stack([self.act(o) for o in observations])


class FaultyPolicy(LinearPolicy):
    """Misbehaves in the episode whose seed is ``bad_seed``, at step ``at_step``, in the way ``mode`` says."""

    def __init__(self, mode: str, bad_seed: int, at_step: int = 2, sleep: float = 5.0) -> None:
        super().__init__()
        self.mode, self.bad_seed, self.at_step, self.sleep = mode, bad_seed, at_step, sleep
        self._seed: int | None = None
        self._t = 0

    def reset(self, task: TaskSpec) -> None:
        super().reset(task)
        self._seed, self._t = task.episode_seed, 0

    def act(self, observation: Observation) -> Any:
        self._t += 1
        if self._seed == self.bad_seed and self._t == self.at_step:
            if self.mode == "raise":
                raise ValueError("policy bug")
            if self.mode == "nan":
                return np.full(self._dim, np.nan, dtype=np.float32)
            if self.mode == "shape":
                return np.zeros(self._dim + 1, dtype=np.float32)
            if self.mode == "hang":
                time.sleep(self.sleep)
            if self.mode == "huge":
                return np.full(self._dim, 50.0, dtype=np.float32)
        return super().act(observation)


class ChunkPolicy(LinearPolicy):
    """Returns a chunk of ``size`` actions and counts its calls."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.calls = 0

    def act(self, observation: Observation) -> NDArray[np.float32]:
        self.calls += 1
        single = super().act(observation)
        return np.stack([single * (1 - 0.1 * i) for i in range(self.size)])


class WorkerSafeLinearPolicy(LinearPolicy):
    """LinearPolicy declaring itself safe to build in every env worker (the harness may place it there)."""

    vla_bench_per_process = True


class MisbehavingPolicy(LinearPolicy):
    """Ends its process, or tries to, in the episode whose seed is ``bad_seed`` at its second step.

    ``mode``: exit (SystemExit), interrupt (KeyboardInterrupt), os_exit, segfault, memory (a huge allocation),
    spin (burns a core for ``seconds``)."""

    vla_bench_per_process = True
    bad_seed = -1
    mode = "exit"
    seconds = 30.0

    def __init__(self) -> None:
        super().__init__()
        self._seed: int | None = None
        self._t = 0

    def reset(self, task: TaskSpec) -> None:
        super().reset(task)
        self._seed, self._t = task.episode_seed, 0

    def act(self, observation: Observation) -> NDArray[np.float32]:
        self._t += 1
        if self._seed == int(os.environ.get("VLAB_BAD_SEED", self.bad_seed)) and self._t == 2:
            mode = os.environ.get("VLAB_MODE", self.mode)
            if mode == "exit":
                raise SystemExit(3)
            if mode == "interrupt":
                raise KeyboardInterrupt
            if mode == "os_exit":
                os._exit(1)
            if mode == "segfault":
                os.kill(os.getpid(), signal.SIGSEGV)
            if mode == "memory":
                np.ones(1 << 50, dtype=np.uint8)
            if mode == "spin":
                end = time.monotonic() + self.seconds
                while time.monotonic() < end:
                    pass
        return super().act(observation)


class CentralMisbehavingPolicy(MisbehavingPolicy):
    """The same, not declared safe per process: the harness keeps it central (in a policy process)."""

    vla_bench_per_process = False
