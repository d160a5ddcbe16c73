"""The perturbed session on a scene rebuilt at every reset (robosuite's hard reset, as in LIBERO): a session that
takes the edits through ``edit_scene_on_reset`` gets them on the new model before its state is set, stepped and
observed, so a camera or light arm keeps the clean episode's state and observables bit for bit and only the
camera/light fields differ; a session without the hook is still edited after its reset and observed again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mujoco
import numpy as np
import pytest
from numpy.typing import NDArray

from vla_bench.benchmarks.base import EnvSession, StepResult
from vla_bench.benchmarks.perturbations import PerturbedSession
from vla_bench.spec import EpisodeSpec, Observation, TaskSpec
from vla_bench.spec.perturbation import LightSetting, PerturbationLevel

XML = """<mujoco><worldbody>
<light name="sun" pos="0 0 3" diffuse=".5 .5 .5"/><camera name="front" pos="0 -1 1" xyaxes="1 0 0 0 0.7 0.7"/>
<geom type="plane" size="2 2 .1"/><body name="ball" pos="0 0 .3"><freejoint/><geom type="sphere" size=".1"/></body>
</worldbody></mujoco>"""


class Rebuilding(EnvSession):
    """Builds a new model at every reset, then sets a seeded state and settles it for a few steps; the observation
    is the state and the camera pose and light the first observation sees. ``hook``: takes edits on reset."""

    def __init__(self, hook: bool) -> None:
        self.hook, self.edits = hook, 0
        self._edit: Callable[[Any], None] | None = None
        self._build()

    def _build(self) -> None:
        self.model = mujoco.MjModel.from_xml_string(XML)
        self.data = mujoco.MjData(self.model)

    @property
    def task_spec(self) -> TaskSpec:
        return TaskSpec(name="t", instruction="", action_low=(-1.0,), action_high=(1.0,), max_steps=5,
                        observation_mode="state", state_dim=13)

    def _observe(self) -> Observation:
        seen = np.concatenate([self.model.cam_pos[0], self.model.cam_quat[0], self.model.light_diffuse[0]])
        return {"state": np.concatenate([self.data.qpos, self.data.qvel, seen]).astype(np.float64)}

    def reset(self, episode: EpisodeSpec) -> Observation:
        self._build()
        if self._edit is not None:
            self.edits += 1
            self._edit(self.model)
        self.data.qvel[:3] = np.random.default_rng(episode.seed).normal(size=3)
        for _ in range(10):
            mujoco.mj_step(self.model, self.data)
        return self._observe()

    def step(self, action: NDArray[np.float32]) -> StepResult:
        mujoco.mj_step(self.model, self.data)
        return StepResult(self._observe(), 0.0, False, False, False)

    def scene(self) -> tuple[Any, Any] | None:
        return self.model, self.data

    def scene_cameras(self) -> dict[str, str]:
        return {"front": "front"}

    def scene_rebuilt_on_reset(self) -> bool:
        return True

    def edit_scene_on_reset(self, edit: Callable[[Any], None] | None) -> bool:
        if self.hook:
            self._edit = edit
        return self.hook

    def refresh_observation(self) -> Observation:
        mujoco.mj_forward(self.model, self.data)
        return self._observe()


LEVELS = {"camera": PerturbationLevel(camera_shift=0.05, camera_rotate=5.0),
          "lighting": PerturbationLevel(light=LightSetting(ambient=0.02, diffuse=0.16, specular=0.01))}


@pytest.mark.parametrize("axis", LEVELS)
@pytest.mark.parametrize("hook", [True, False])
def test_camera_and_light_arms_keep_the_clean_physics_and_change_only_what_they_claim(axis: str, hook: bool) -> None:
    clean = Rebuilding(hook)
    inner = Rebuilding(hook)
    perturbed = PerturbedSession(inner, LEVELS[axis], axis, "demo")
    for seed in (3, 4, 3):  # the same episode again after another one sees the same edit, never a sum of two
        episode = EpisodeSpec(task="t", task_index=0, episode_index=0, seed=seed)
        want, got = clean.reset(episode)["state"], perturbed.reset(episode)["state"]
        assert np.array_equal(got[:13], want[:13])  # qpos, qvel: the same physics, bit for bit
        seen = slice(13, 20) if axis == "camera" else slice(20, 23)
        assert not np.allclose(got[seen], want[seen])  # the first observation saw the edited scene
        other = slice(20, 23) if axis == "camera" else slice(13, 20)
        assert np.array_equal(got[other], want[other])
        for _ in range(3):
            assert np.array_equal(perturbed.step(np.zeros(1, np.float32)).observation["state"][:13],
                                  clean.step(np.zeros(1, np.float32)).observation["state"][:13])
    assert inner.edits == (3 if hook else 0) and inner._edit is None  # the hook is dropped after each reset


def test_a_reset_that_fails_drops_the_hook() -> None:
    inner = Rebuilding(True)
    perturbed = PerturbedSession(inner, LEVELS["camera"], "camera", "demo")

    def broken(episode: EpisodeSpec) -> Observation:
        raise RuntimeError("simulator died")

    inner.reset = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="died"):
        perturbed.reset(EpisodeSpec(task="t", task_index=0, episode_index=0, seed=1))
    assert inner._edit is None
