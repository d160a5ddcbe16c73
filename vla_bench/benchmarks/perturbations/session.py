"""A perturbed session: wraps a benchmark's own session and applies one axis at one level to every episode.

Order within an episode: scene edits (dynamics, camera, lights) on the model before the adapter's reset, so its
reset computes the first observation in the edited scene (a session that builds a new model at every reset gets
the edits on that model as soon as it is built, through ``edit_scene_on_reset``, or else after its reset and
observes again); the adapter applies initial-state fields itself (object pose, sampling range: only it knows
its objects); then, on every observation, state noise, image perturbations and the paraphrased instruction; on
every action, noise and delay. The clean arm of a robustness protocol never gets a wrapper: its sessions are the
clean protocol's, bit for bit.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from vla_bench.benchmarks.base import EnvSession, StepResult
from vla_bench.benchmarks.perturbations.control import CONTROL_FIELDS, ControlPerturbation
from vla_bench.benchmarks.perturbations.image import IMAGE_FIELDS, ImagePerturbation
from vla_bench.benchmarks.perturbations.language import paraphrase, paraphrases
from vla_bench.benchmarks.perturbations.scene import SCENE_FIELDS, SceneEditor
from vla_bench.spec import EpisodeSpec, Observation, TaskSpec
from vla_bench.spec.perturbation import PerturbationLevel

if TYPE_CHECKING:
    import mujoco

INITIAL_STATE_FIELDS = frozenset({"object_shift", "object_offset", "object_yaw_rad", "init_range"})


class PerturbedSession(EnvSession):
    def __init__(self, inner: EnvSession, level: PerturbationLevel, axis: str, adapter: str) -> None:
        fields = level.fields_set()
        unsupported = (fields & INITIAL_STATE_FIELDS) - inner.initial_state_fields()
        if unsupported:
            raise ValueError(f"benchmark {adapter!r} cannot perturb {sorted(unsupported)} (axis {axis!r})")
        self._inner, self._level, self._axis, self._adapter = inner, level, axis, adapter
        self._editor: SceneEditor | None = None
        if fields & SCENE_FIELDS:
            scene = inner.scene()
            if scene is None:
                raise ValueError(f"benchmark {adapter!r} exposes no MuJoCo scene to perturb "
                                 f"{sorted(fields & SCENE_FIELDS)}")
            self._editor = SceneEditor(scene[0], inner.scene_cameras())
        if level.paraphrase is not None:
            paraphrases(adapter, inner.task_spec.instruction, level.paraphrase)  # fail at build, not mid-run
        self._task_spec = inner.task_spec
        spec = inner.task_spec
        self._low = np.asarray(spec.action_low, dtype=np.float32)
        self._high = np.asarray(spec.action_high, dtype=np.float32)
        self._control: ControlPerturbation | None = None
        self._images: ImagePerturbation | None = None

    @property
    def task_spec(self) -> TaskSpec:
        return self._task_spec

    @property
    def inner(self) -> EnvSession:
        return self._inner

    def reset(self, episode: EpisodeSpec) -> Observation:
        level, seed = self._level, episode.seed
        rebuilt = self._editor is not None and self._inner.scene_rebuilt_on_reset()
        if self._editor is not None and not rebuilt:
            self._editor.apply(level, seed, self._axis)
        # A session that calls the edit on the model it builds needs no edit and refresh after its reset.
        hooked = rebuilt and self._inner.edit_scene_on_reset(partial(self._edit_built, level, seed))
        fields = level.fields_set()
        self._control = ControlPerturbation(level, seed, self._axis, self._low, self._high) \
            if fields & CONTROL_FIELDS else None
        self._images = ImagePerturbation(level, seed, self._axis) if fields & IMAGE_FIELDS else None
        if level.paraphrase is not None:
            text = paraphrase(self._adapter, self._inner.task_spec.instruction, level.paraphrase, seed, self._axis)
            self._task_spec = replace(self._inner.task_spec, instruction=text)
        try:
            if fields & INITIAL_STATE_FIELDS:
                observation = self._inner.reset_perturbed(episode, level, self._axis)
            else:
                observation = self._inner.reset(episode)
        finally:
            if hooked:
                self._inner.edit_scene_on_reset(None)
        if rebuilt and not hooked:  # edited after the reset, on the model it built, then observed again
            scene = self._inner.scene()
            assert scene is not None
            self._edit_built(level, seed, scene[0])
            observation = self._inner.refresh_observation()
        return self._observe(observation)

    def _edit_built(self, level: PerturbationLevel, seed: int, model: mujoco.MjModel) -> None:
        assert self._editor is not None
        if model is not self._editor.model:  # a new model: its own nominal values
            self._editor = SceneEditor(model, self._inner.scene_cameras())
        self._editor.apply(level, seed, self._axis)  # restores what the editor changed before, if reused

    def step(self, action: NDArray[np.float32]) -> StepResult:
        if self._control is not None:
            action = self._control.action(action)
        result = self._inner.step(action)
        result.observation = self._observe(result.observation)
        return result

    def _observe(self, observation: Observation) -> Observation:
        observation = dict(observation)  # type: ignore[assignment]
        if self._control is not None and "state" in observation:
            observation["state"] = self._control.state(observation["state"])
        if self._images is not None and "images" in observation:
            observation["images"] = self._images.apply(observation["images"])
        if "instruction" in observation:
            observation["instruction"] = self._task_spec.instruction
        return observation

    def render_frame(self) -> NDArray[np.uint8] | None:
        return self._inner.render_frame()

    def scene(self) -> tuple[mujoco.MjModel, mujoco.MjData] | None:
        return self._inner.scene()

    def scene_cameras(self) -> dict[str, str]:
        return self._inner.scene_cameras()

    @property
    def frames_per_second(self) -> float | None:
        return self._inner.frames_per_second

    def close(self) -> None:
        self._inner.close()
