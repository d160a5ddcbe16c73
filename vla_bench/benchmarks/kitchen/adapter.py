"""FrankaKitchen-v1 under a chain protocol: a :class:`~vla_bench.benchmarks.chain.ChainBackend`.

The environment is built with all seven of its subtasks as goals, ``remove_task_when_completed=False`` and
``terminate_on_tasks_completed=False``, so that its ``info["step_task_completions"]`` lists, at every step,
each subtask whose object is within ``BONUS_THRESH`` (0.3) of its goal configuration
(gymnasium_robotics/envs/franka_kitchen/kitchen_env.py ``compute_reward``; D4RL kitchen_envs.py uses the same
threshold). A subtask counts as achieved at the first step of its window at which it is in that list - the
same any-step rule as D4RL's kitchen, applied to the current subtask only. The state is the 59-value
``observation`` (per-task goal dicts left out, as in the d4rl adapter); the instruction comes from the chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vla_bench.benchmarks.base import BenchmarkAdapter, EnvSession, make_task_spec
from vla_bench.benchmarks.chain import BackendStep, ChainBackend, ChainSession, chain_protocol
from vla_bench.benchmarks.d4rl.adapter import flatten_goal_observation, goal_dict_size
from vla_bench.benchmarks.generated_chain import GeneratedChain
from vla_bench.benchmarks.rendering import ensure_headless_gl
from vla_bench.spec import Observation, Protocol, TaskDef, TaskSpec

ENV_ID = "FrankaKitchen-v1"
# env_kwargs a kitchen chain protocol must set: per-step completion of every subtask, no early termination
REQUIRED_KWARGS = {"remove_task_when_completed": False, "terminate_on_tasks_completed": False}


class KitchenBackend(ChainBackend):
    def __init__(self, protocol: Protocol, task: TaskDef, *, render: bool) -> None:
        import gymnasium as gym  # noqa: PLC0415 - simulator imports stay in the env worker
        import gymnasium_robotics  # noqa: PLC0415

        chain = chain_protocol(protocol)
        if task.env_id != ENV_ID:
            raise ValueError(f"the kitchen adapter runs {ENV_ID}, not {task.env_id!r}")
        for key, value in REQUIRED_KWARGS.items():
            if task.env_kwargs.get(key) != value:
                raise ValueError(f"kitchen chain protocols need env_kwargs.{key} = {str(value).lower()} "
                                 "(per-step completion of every subtask)")
        goals = set(task.env_kwargs.get("tasks_to_complete", ()))
        missing = set(chain.instructions) - goals
        if missing:
            raise ValueError(f"env_kwargs.tasks_to_complete lacks the chain subtasks {sorted(missing)}")
        gym.register_envs(gymnasium_robotics)
        kwargs: dict[str, Any] = dict(task.env_kwargs)  # forwarded to gymnasium.make
        if render:
            ensure_headless_gl()
            kwargs.update(render_mode="rgb_array", width=256, height=256)
        self._env = gym.make(ENV_ID, max_episode_steps=protocol.max_steps, **kwargs)
        space = self._env.action_space
        observation_space = self._env.observation_space
        if not isinstance(observation_space, gym.spaces.Dict):
            raise TypeError(f"{ENV_ID} has a {type(observation_space).__name__} observation space, not a Dict")
        self._task_spec = make_task_spec(protocol, task, space.low, space.high,  # type: ignore[attr-defined]
                                         state_dim=goal_dict_size(observation_space), instruction="")

    @property
    def task_spec(self) -> TaskSpec:
        return self._task_spec

    def reset(self, chain_index: int, chain: GeneratedChain, seed: int) -> Observation:
        # FrankaKitchen starts every episode from the same configuration; the seed drives its observation noise
        state, _ = self._env.reset(seed=seed)
        return self._observation(state)

    def begin_subtask(self, subtask: str) -> None:
        pass  # achievement is a property of the current state: nothing to snapshot

    def step(self, action: NDArray[np.float32]) -> BackendStep:
        state, reward, terminated, _, info = self._env.step(action)
        return BackendStep(observation=self._observation(state), reward=float(reward),
                           terminated=bool(terminated), info=info)

    def achieved(self, subtask: str, step: BackendStep) -> bool:
        completions = step.info.get("step_task_completions", ())
        return isinstance(completions, (list, tuple, set)) and subtask in completions

    def _observation(self, state: Mapping[str, object]) -> Observation:
        return {"state": flatten_goal_observation(state)}

    def render_frame(self) -> NDArray[np.uint8] | None:
        if self._env.render_mode != "rgb_array":
            return None
        return np.ascontiguousarray(self._env.render(), dtype=np.uint8)

    @property
    def frames_per_second(self) -> float | None:
        fps = self._env.metadata.get("render_fps")
        return float(fps) if fps else None

    def close(self) -> None:
        self._env.close()


class KitchenAdapter(BenchmarkAdapter):
    name = "kitchen"

    def make_session(self, protocol: Protocol, task: TaskDef, *, render: bool = False) -> EnvSession:
        return ChainSession(protocol, KitchenBackend(protocol, task, render=render))

    def describe(self) -> dict[str, object]:
        import contextlib  # noqa: PLC0415
        from importlib import metadata  # noqa: PLC0415

        import gymnasium  # noqa: PLC0415
        import mujoco  # noqa: PLC0415

        versions = {"gymnasium": gymnasium.__version__, "mujoco": mujoco.__version__}
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions["gymnasium_robotics"] = metadata.version("gymnasium-robotics")
        return versions
