"""A benchmark's environment as a Gymnasium env for online trainers, built from the protocol's own adapter.

:class:`SessionEnv` drives the adapter's :class:`~vla_bench.benchmarks.base.EnvSession` - the very object the
harness evaluates with - so a policy trains on exactly the task it is scored on (PandaPickCube's serl reward,
home pose and block draw live in its adapter, not in any Gymnasium registration). Observations: the state
vector, or, for a protocol with cameras, a ``Dict`` of ``image_<camera>`` (uint8 HxWx3, as the harness gives
them) and ``state`` - the keys are the exported ONNX graph's input names, which the harness feeds by name
(``agents.tensor_io``); only trainers that ask for images get them. The step limit is the protocol's;
``info["success"]`` is the protocol's success rule. Every reset draws the episode seed from the env's own
seeded generator, or takes the one it is given (GRPO's groups start G rollouts from one seed). Benchmarks
that run in their own runtime (another interpreter) are refused.
"""

from __future__ import annotations

from typing import Any, cast

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from vla_bench.benchmarks.base import BenchmarkAdapter, EnvSession
from vla_bench.spec import EpisodeSpec, Observation, Protocol
from vla_bench.spec.errors import UserError
from vla_bench.spec.registry import import_target


def make_session(protocol: Protocol, task_index: int = 0) -> EnvSession:
    """The adapter's session for one task (as the harness's env workers build it)."""
    from vla_bench.benchmarks import BENCHMARKS, RUNTIMES  # noqa: PLC0415 - the registry imports its adapter lazily

    name = protocol.adapter
    if name in RUNTIMES:
        raise UserError(f"{protocol.id} runs in its own runtime ({name}); online training needs its simulator in "
                        "this interpreter")
    # a registered adapter by name, or any adapter class by ``module:attr`` (as the harness resolves it)
    adapter_class = cast(type[BenchmarkAdapter], import_target(name)) if ":" in name else BENCHMARKS.get(name)
    return adapter_class().make_session(protocol, protocol.tasks[task_index])


class SessionEnv(gym.Env):
    """A Gymnasium env over one task's adapter session."""

    def __init__(self, protocol: Protocol, *, seed: int = 0, task_index: int = 0, images: bool = False) -> None:
        super().__init__()
        if protocol.observation.has_images and not images:  # a trainer whose networks take only a state vector
            raise UserError(f"{protocol.id} observes {protocol.observation.mode!r}; this trainer trains on state "
                            "(PPO trains on images: `vla-bench train ppo`)")
        self.protocol, self.task_index = protocol, task_index
        self.session = make_session(protocol, task_index)
        spec = self.session.task_spec
        self.cameras = tuple(protocol.observation.cameras) if protocol.observation.has_images else ()
        if spec.state_dim is None and not self.cameras:
            raise UserError(f"{protocol.id} gives no state")
        state = None if spec.state_dim is None else gym.spaces.Box(-np.inf, np.inf, (spec.state_dim,), np.float32)
        if self.cameras:
            size = (int(protocol.observation.image_height or 0), int(protocol.observation.image_width or 0), 3)
            image = gym.spaces.Box(np.zeros(size, np.uint8), np.full(size, 255, np.uint8), dtype=np.uint8)
            spaces: dict[str, gym.spaces.Space[Any]] = {f"image_{camera}": image for camera in self.cameras}
            if state is not None:
                spaces["state"] = state
            # Any: a Box for state protocols (trainers read its bounds), a Dict with cameras
            self.observation_space: Any = gym.spaces.Dict(spaces)
        else:
            assert state is not None
            self.observation_space = state
        self.action_space: gym.spaces.Box = gym.spaces.Box(np.asarray(spec.action_low, np.float32),
                                           np.asarray(spec.action_high, np.float32), dtype=np.float32)
        self.rng = np.random.default_rng(seed)
        self.episodes, self.t = 0, 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if seed is not None:  # Gymnasium's rule: a given seed reseeds the env (later episodes follow from it)
            self.rng = np.random.default_rng(seed)
        episode_seed = int(self.rng.integers(2**31 - 1)) if seed is None else int(seed)
        task = self.protocol.tasks[self.task_index]
        obs = self.session.reset(EpisodeSpec(task=task.name, task_index=self.task_index,
                                             episode_index=self.episodes, seed=episode_seed))
        self.episodes, self.t = self.episodes + 1, 0
        return self._state(obs), {"episode_seed": episode_seed}

    def step(self, action: NDArray[np.float32]) -> tuple[Any, float, bool, bool, dict[str, object]]:
        clipped = np.clip(np.asarray(action, np.float32), self.action_space.low, self.action_space.high)
        result = self.session.step(clipped)
        self.t += 1
        terminated = bool(result.terminated or (result.success and self.protocol.terminate_on_success))
        truncated = bool(result.truncated or self.t >= self.protocol.max_steps)
        return self._state(result.observation), float(result.reward), terminated, truncated, {
            "success": bool(result.success), "is_success": bool(result.success)}

    def _state(self, observation: Observation) -> NDArray[np.float32] | dict[str, NDArray[np.generic]]:
        if not self.cameras:
            return np.asarray(observation["state"], dtype=np.float32)
        images = observation["images"]
        found: dict[str, NDArray[np.generic]] = {f"image_{camera}": np.asarray(images[camera], dtype=np.uint8)
                                          for camera in self.cameras}
        if "state" in observation:
            found["state"] = np.asarray(observation["state"], dtype=np.float32)
        return found

    def close(self) -> None:
        self.session.close()
