"""D4RL protocols: Gymnasium MuJoCo v5 locomotion and the Gymnasium-Robotics ports of D4RL's other suites.

Locomotion (hopper, halfcheetah, walker2d, ant) runs on :class:`GymnasiumMujocoSession` of the ``mujoco``
adapter unchanged. AntMaze v5, PointMaze v3 (D4RL's maze2d), FrankaKitchen-v1 and AdroitHand*-v1 run on
:class:`GymnasiumRoboticsSession`, which adds what those environments need:

- registration of the Gymnasium-Robotics ids (``gym.register_envs(gymnasium_robotics)``);
- a flat state for goal-conditioned dict observations, in one documented order (:data:`GOAL_DICT_ORDER`):
  ``observation``, then ``achieved_goal``, then ``desired_goal``, each flattened C-order; entries that are
  themselves dicts (FrankaKitchen's per-task goals) are left out - their achieved goals repeat object
  positions already in ``observation`` and their desired goals are the protocol's constants. The local
  Minari reader (``vla_bench.datasets``) flattens stored dict observations by the same rule, so a policy
  trained on such a dataset sees the layout it is evaluated with;
- the success flag: the environment's ``info["success"]`` (AntMaze, PointMaze, Adroit), and for
  FrankaKitchen-v1, which has none, ``info["success"] = not info["tasks_to_complete"]`` (every subtask of the
  protocol done; subtasks are removed from that list once completed);
- D4RL rules the ports dropped, switched on by ``env_kwargs`` keys that this adapter consumes (they are not
  passed to the environment): ``terminate_on_pen_drop`` ends an AdroitHandPen episode when the pen falls
  below 0.075 m, as D4RL's ``pen_v0`` does (``done`` on drop), the rule under which D4RL measured pen's
  REF_MIN_SCORE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vla_bench.benchmarks.base import BenchmarkAdapter, EnvSession, StepResult
from vla_bench.benchmarks.mujoco.adapter import GymnasiumMujocoSession
from vla_bench.spec import Observation, Protocol, TaskDef

if TYPE_CHECKING:
    import gymnasium as gym

GOAL_DICT_ORDER = ("observation", "achieved_goal", "desired_goal")
ROBOTICS_ENV_PREFIXES = ("AntMaze_", "PointMaze_", "FrankaKitchen", "AdroitHand")
ADAPTER_KWARGS = ("terminate_on_pen_drop",)  # env_kwargs read by this adapter, not passed to gym.make
PEN_DROP_HEIGHT = 0.075  # metres; D4RL d4rl/hand_manipulation_suite/pen_v0.py: done if obj_pos[2] < 0.075


def flatten_goal_observation(observation: Mapping[str, object]) -> NDArray[np.float32]:
    """A goal-conditioned dict observation as one float32 vector, in :data:`GOAL_DICT_ORDER`."""
    unknown = set(observation) - set(GOAL_DICT_ORDER)
    if unknown:
        raise ValueError(f"dict observation with unexpected keys {sorted(unknown)}; this adapter flattens "
                         f"only {', '.join(GOAL_DICT_ORDER)}")
    parts = [np.asarray(observation[key], dtype=np.float32).ravel()
             for key in GOAL_DICT_ORDER if key in observation and not isinstance(observation[key], Mapping)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def goal_dict_size(space: gym.spaces.Dict) -> int:
    """The flattened size of a Gymnasium ``Dict`` observation space under :func:`flatten_goal_observation`."""
    from gymnasium.spaces import Dict  # noqa: PLC0415 - simulator imports stay in the env worker

    total = 0
    for key in GOAL_DICT_ORDER:
        sub = space.spaces.get(key)
        if sub is not None and not isinstance(sub, Dict):
            if sub.shape is None:
                raise ValueError(f"observation space {key!r} has no shape")
            total += int(np.prod(sub.shape))
    return total


def is_robotics_env(env_id: str) -> bool:
    return env_id.startswith(ROBOTICS_ENV_PREFIXES)


class GymnasiumRoboticsSession(GymnasiumMujocoSession):
    """A Gymnasium-Robotics environment under a D4RL protocol (see the module docstring)."""

    def __init__(self, protocol: Protocol, task: TaskDef, *, render: bool) -> None:
        import gymnasium as gym  # noqa: PLC0415
        import gymnasium_robotics  # noqa: PLC0415

        gym.register_envs(gymnasium_robotics)
        env_kwargs = {k: v for k, v in task.env_kwargs.items() if k not in ADAPTER_KWARGS}
        super().__init__(protocol, task.model_copy(update={"env_kwargs": env_kwargs}), render=render)
        space = self._env.observation_space
        if isinstance(space, gym.spaces.Dict):
            self._task_spec = replace(self._task_spec, state_dim=goal_dict_size(space))
        self._kitchen = task.env_id.startswith("FrankaKitchen")
        self._pen_drop = bool(task.env_kwargs.get("terminate_on_pen_drop", False))
        if self._pen_drop and not task.env_id.startswith("AdroitHandPen"):
            raise ValueError(f"terminate_on_pen_drop applies to AdroitHandPen, not {task.env_id}")

    def _observation(self, state: ArrayLike | Mapping[str, object]) -> Observation:
        if isinstance(state, Mapping):
            return super()._observation(flatten_goal_observation(state))
        return super()._observation(state)

    def step(self, action: NDArray[np.float32]) -> StepResult:
        state, reward, terminated, truncated, info = self._env.step(action)
        if self._kitchen:
            # FrankaKitchen-v1 has no success flag: all of the protocol's subtasks done (REFERENCE.md 1.2)
            info = {**info, "success": not info.get("tasks_to_complete", True)}
        if self._pen_drop and not terminated:
            pen = self._env.unwrapped
            terminated = bool(pen.data.xpos[pen.obj_body_id][2] < PEN_DROP_HEIGHT)  # type: ignore[attr-defined]
        return self._step_result(state, reward, terminated, truncated, info)


class D4RLAdapter(BenchmarkAdapter):
    name = "d4rl"

    def make_session(self, protocol: Protocol, task: TaskDef, *, render: bool = False) -> EnvSession:
        if is_robotics_env(task.env_id):
            return GymnasiumRoboticsSession(protocol, task, render=render)
        return GymnasiumMujocoSession(protocol, task, render=render)

    def describe(self) -> dict[str, object]:
        import contextlib  # noqa: PLC0415
        from importlib import metadata  # noqa: PLC0415

        import gymnasium  # noqa: PLC0415
        import mujoco  # noqa: PLC0415

        versions = {"gymnasium": gymnasium.__version__, "mujoco": mujoco.__version__}
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions["gymnasium_robotics"] = metadata.version("gymnasium-robotics")
        return versions
