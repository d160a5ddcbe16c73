"""Gymnasium MuJoCo v5 locomotion (Hopper, HalfCheetah, Walker2d, Ant, Humanoid), state or pixels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, SupportsFloat

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vla_bench.benchmarks.base import BenchmarkAdapter, EnvSession, StepResult, info_flag_success, make_task_spec
from vla_bench.benchmarks.perturbations import perturb
from vla_bench.benchmarks.rendering import disable_shadows_and_reflections, ensure_headless_gl
from vla_bench.spec import EpisodeSpec, Observation, Protocol, TaskDef, TaskSpec

if TYPE_CHECKING:
    import mujoco


class GymnasiumMujocoSession(EnvSession):
    """A Gymnasium MuJoCo env under a protocol: the harness owns the step limit, so Gymnasium's TimeLimit
    is set to the protocol's ``max_steps`` (it only agrees with it)."""

    def __init__(self, protocol: Protocol, task: TaskDef, *, render: bool) -> None:
        import gymnasium as gym  # noqa: PLC0415 - simulator imports stay in the env worker

        obs = protocol.observation
        needs_frames = obs.has_images or render
        kwargs: dict[str, Any] = dict(task.env_kwargs)  # forwarded to gymnasium.make
        if needs_frames:
            ensure_headless_gl()
            kwargs.update(render_mode="rgb_array", width=obs.image_width or 256, height=obs.image_height or 256)
        self._env = gym.make(task.env_id, max_episode_steps=protocol.max_steps, **kwargs)
        if needs_frames:
            disable_shadows_and_reflections(self._env.unwrapped.model)  # type: ignore[attr-defined]
        self._protocol = protocol
        self._camera = obs.cameras[0] if obs.cameras else "track"
        # read once: this runs every step of every episode
        self._has_state, self._has_images, self._language = obs.has_state, obs.has_images, obs.language
        space = self._env.action_space
        state_shape = self._env.observation_space.shape
        self._task_spec = make_task_spec(protocol, task, space.low, space.high,  # type: ignore[attr-defined]
                                         state_dim=int(state_shape[0]) if state_shape else None, cameras=obs.cameras)

    @property
    def task_spec(self) -> TaskSpec:
        return self._task_spec

    def _observation(self, state: ArrayLike) -> Observation:
        observation: Observation = {}
        if self._has_state:
            observation["state"] = np.asarray(state, dtype=np.float32)
        if self._has_images:
            observation["images"] = {self._camera: self._frame()}
        if self._language:
            observation["instruction"] = self._task_spec.instruction
        return observation

    def _frame(self) -> NDArray[np.uint8]:
        frame = self._env.render()
        return np.ascontiguousarray(frame, dtype=np.uint8)

    def reset(self, episode: EpisodeSpec) -> Observation:
        state, _ = self._env.reset(seed=episode.seed)
        self._env.action_space.seed(episode.seed)
        return self._observation(state)

    def step(self, action: NDArray[np.float32]) -> StepResult:
        return self._step_result(*self._env.step(action))

    def _step_result(self, state: ArrayLike, reward: SupportsFloat, terminated: bool, truncated: bool,
                     info: Mapping[str, object]) -> StepResult:
        """One Gymnasium step's outcome in the standard form (subclasses adjust info/terminated first)."""
        return StepResult(
            observation=self._observation(state),
            reward=float(reward),
            terminated=bool(terminated),
            truncated=bool(truncated),
            success=info_flag_success(self._protocol.success, info),
        )

    @property
    def frames_per_second(self) -> float | None:
        fps = self._env.metadata.get("render_fps")  # Gymnasium MuJoCo envs: 1 / (frame_skip * timestep)
        return float(fps) if fps else None

    def render_frame(self) -> NDArray[np.uint8] | None:
        return self._frame() if self._env.render_mode == "rgb_array" else None

    def close(self) -> None:
        self._env.close()

    def scene(self) -> tuple[mujoco.MjModel, mujoco.MjData] | None:
        unwrapped = self._env.unwrapped
        return unwrapped.model, unwrapped.data  # type: ignore[attr-defined]

    def scene_cameras(self) -> dict[str, str]:
        return {self._camera: self._camera}


class MujocoAdapter(BenchmarkAdapter):
    name = "mujoco"

    def make_session(self, protocol: Protocol, task: TaskDef, *, render: bool = False) -> EnvSession:
        return perturb(protocol, task, GymnasiumMujocoSession(protocol, task, render=render))

    def describe(self) -> dict[str, object]:
        import gymnasium  # noqa: PLC0415
        import mujoco  # noqa: PLC0415

        return {"gymnasium": gymnasium.__version__, "mujoco": mujoco.__version__}
