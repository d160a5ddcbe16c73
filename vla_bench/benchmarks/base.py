"""What every benchmark adapter provides: an environment session per task, speaking the standard contract."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from vla_bench.spec import EpisodeSpec, Observation, Protocol, SuccessRule, TaskDef, TaskSpec
from vla_bench.spec.perturbation import PerturbationLevel

if TYPE_CHECKING:
    import mujoco


@dataclass
class StepResult:
    observation: Observation
    reward: float
    terminated: bool
    truncated: bool
    success: bool  # the protocol's success rule evaluated at this step (False where it has none)
    info: dict[str, Any] = field(default_factory=dict)


class SimulatorHooks:
    """The optional hooks of anything that holds a live simulator: a plain session (:class:`EnvSession`) and a
    chain protocol's backend (``benchmarks.chain.ChainBackend``) both have them."""

    def render_frame(self) -> NDArray[np.uint8] | None:
        """An upright RGB frame for video recording, or None where the session cannot render."""
        return None

    @property
    def frames_per_second(self) -> float | None:
        """Real-time frame rate of recorded videos (the control rate), where the session knows it."""
        return None

    def close(self) -> None:
        """Release simulator resources."""


class EnvSession(SimulatorHooks, abc.ABC):
    """One live environment for one task of one protocol. Reused across that task's episodes."""

    @property
    @abc.abstractmethod
    def task_spec(self) -> TaskSpec:
        """The task as the policy sees it (without an episode seed)."""

    @abc.abstractmethod
    def reset(self, episode: EpisodeSpec) -> Observation:
        """Start ``episode`` from its planned seed (and init/goal index). Must be deterministic in it."""

    @abc.abstractmethod
    def step(self, action: NDArray[np.float32]) -> StepResult:
        """Apply one action already validated and clipped to the task's bounds."""


    # Optional hooks of the perturbation layer (benchmarks/perturbations): a session that has none of them
    # still runs every clean protocol; robustness axes that need a missing hook are refused at session build.

    def scene(self) -> tuple[mujoco.MjModel, mujoco.MjData] | None:
        """The live ``(mujoco.MjModel, mujoco.MjData)``, for perturbations that edit the scene."""
        return None

    def scene_cameras(self) -> dict[str, str]:
        """Observation camera name -> MuJoCo camera name of the cameras a camera perturbation moves."""
        return {camera: camera for camera in self.task_spec.cameras}

    def scene_rebuilt_on_reset(self) -> bool:
        """True where every reset builds a new model (robosuite's hard reset): scene edits then follow the
        reset, and the first observation is recomputed with ``refresh_observation``."""
        return False

    def edit_scene_on_reset(self, edit: Callable[[mujoco.MjModel], None] | None) -> bool:
        """Where every reset builds a new model: keep ``edit`` (None: forget it) and call ``edit(model)`` on
        each newly built model right after building it, before the episode's state is set, stepped or observed,
        and return True. Camera and light edits then leave the physics and every observable the clean
        episode's, bit for bit, and the first observation needs no ``refresh_observation``, which samples the
        observables at another moment than the reset did. False (the default): the layer edits after the reset
        and refreshes."""
        return False

    def refresh_observation(self) -> Observation:
        """The current observation, recomputed after the scene was edited (needed when the scene is rebuilt)."""
        raise NotImplementedError(f"{type(self).__name__} cannot recompute its observation")

    def initial_state_fields(self) -> frozenset[str]:
        """The initial-state perturbation fields (``object_shift``, ``init_range``, ...) ``reset_perturbed``
        applies."""
        return frozenset()

    def reset_perturbed(self, episode: EpisodeSpec, level: PerturbationLevel, axis: str) -> Observation:
        """``reset`` with the level's initial-state fields applied (draws from ``perturbation_rng``)."""
        raise NotImplementedError(f"{type(self).__name__} has no initial-state perturbations")


class BenchmarkAdapter(abc.ABC):
    """Builds environment sessions for the tasks of this benchmark's protocols."""

    name: str = ""

    @abc.abstractmethod
    def make_session(self, protocol: Protocol, task: TaskDef, *, render: bool = False) -> EnvSession:
        """A session for ``task``; ``render`` asks for frames for video recording."""

    def describe(self) -> dict[str, object]:
        """Versions and settings of the simulator stack, for provenance."""
        return {}


def make_task_spec(protocol: Protocol, task: TaskDef, action_low: Sequence[float], action_high: Sequence[float], *,
                   state_dim: int | None = None, cameras: Sequence[str] = (), instruction: str | None = None
                   ) -> TaskSpec:
    """The TaskSpec a session hands the policy: the protocol's step limit, observation mode and control rate,
    the adapter's action box, and its state size and cameras where the observation mode has them.
    ``instruction`` defaults to the task's (chain benchmarks give theirs per subtask)."""
    observation = protocol.observation
    return TaskSpec(
        name=task.name, instruction=task.instruction if instruction is None else instruction,
        action_low=tuple(float(x) for x in action_low), action_high=tuple(float(x) for x in action_high),
        max_steps=protocol.max_steps, observation_mode=observation.mode,
        state_dim=state_dim if observation.has_state else None,
        cameras=tuple(cameras) if observation.has_images else (), control_hz=protocol.control_hz,
    )


def info_flag_success(rule: SuccessRule, info: Mapping[str, object]) -> bool:
    """The ``info_flag`` rule: the info key is truthy at this step."""
    if rule.kind != "info_flag" or rule.key is None:
        return False
    value = info.get(rule.key, False)
    return bool(float(value) >= 1.0) if isinstance(value, (int, float, np.number)) else bool(value)


def exact_env_kwargs(benchmark: str, task: TaskDef, expected: frozenset[str]) -> dict[str, object]:
    """The task's ``env_kwargs`` when they hold exactly ``expected`` (every option is written out in the
    protocol, so its hash covers it); raises ValueError naming what is missing or unknown."""
    options = dict(task.env_kwargs)
    missing, unknown = expected - set(options), set(options) - expected
    if missing or unknown:
        raise ValueError(f"{benchmark} task {task.name!r}: env_kwargs must hold exactly {sorted(expected)}; "
                         f"missing {sorted(missing)}, unknown {sorted(unknown)}")
    return options
