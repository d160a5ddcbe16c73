"""RoboMimic (robosuite 1.5.2) robustness axes: camera pose, lights, object initial range. robosuite rebuilds its
model at every reset, so these check the edits land on the rebuilt model and in the first observation.
Slow: each robosuite session takes seconds to build."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from perturbation_testing import changed, live_scene, model_arrays

from vla_bench.benchmarks.base import EnvSession
from vla_bench.harness.registry import resolve_adapter
from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import Observation, Protocol

pytestmark = pytest.mark.slow
ROBUST = get_protocol("robomimic/lift-ph-image-robust@v1")
CLEAN = get_protocol("robomimic/lift-ph-image@v1")
INDEX = 1


def _open(protocol: Protocol, task: str) -> EnvSession:
    return resolve_adapter("robomimic").make_session(protocol, protocol.task(task))


@pytest.fixture(scope="module")
def clean() -> Iterator[tuple[EnvSession, Observation, dict[str, np.ndarray]]]:
    session = _open(CLEAN, "lift")
    observation = session.reset(episode_spec(CLEAN, "lift", INDEX))
    yield session, observation, model_arrays(live_scene(session)[0])
    session.close()


def _perturbed(task: str) -> tuple[EnvSession, Observation]:
    session = _open(ROBUST, task)
    return session, session.reset(episode_spec(ROBUST, "lift", INDEX))


def test_clean_arm_is_the_clean_protocol(clean: tuple) -> None:
    _, observation, arrays = clean
    session, again = _perturbed("lift")
    for camera in observation["images"]:
        assert np.array_equal(again["images"][camera], observation["images"][camera])
    assert np.array_equal(again["state"], observation["state"])
    assert changed(arrays, model_arrays(live_scene(session)[0])) == set()
    session.close()


def test_camera_moves_agentview_on_the_rebuilt_model(clean: tuple) -> None:
    _, observation, arrays = clean
    session, moved = _perturbed("lift.camera.3")
    model = live_scene(session)[0]
    assert changed(arrays, model_arrays(model)) == {"cam_pos", "cam_quat"}
    rows = np.flatnonzero(np.any(model.cam_pos != arrays["cam_pos"], axis=1))
    assert rows.tolist() == [model.camera("agentview").id]
    assert np.abs(moved["images"]["agentview"].astype(float) - observation["images"]["agentview"]).mean() > 3
    assert np.array_equal(moved["images"]["robot0_eye_in_hand"], observation["images"]["robot0_eye_in_hand"])
    # the next reset rebuilds the model; the same episode is perturbed the same way again
    again = session.reset(episode_spec(ROBUST, "lift", INDEX))
    assert np.array_equal(again["images"]["agentview"], moved["images"]["agentview"])
    session.close()


def test_lighting_dims_the_rendered_scene(clean: tuple) -> None:
    _, observation, arrays = clean
    session, dark = _perturbed("lift.lighting.3")
    found = changed(arrays, model_arrays(live_scene(session)[0]))
    assert "light_diffuse" in found and found <= {"light_ambient", "light_diffuse", "light_specular",
                                                  "headlight.ambient", "headlight.diffuse", "headlight.specular"}
    assert dark["images"]["agentview"].mean() < observation["images"]["agentview"].mean() - 20
    session.close()


def test_object_range_widens_the_cubes_placement_about_its_centre(clean: tuple) -> None:
    reference, _, arrays = clean
    cube = reference.inner._env.cube if hasattr(reference, "inner") else reference._env.cube
    before = np.array(live_scene(reference)[1].qpos[-7:-5])  # the cube's free joint comes last in Lift
    session, _ = _perturbed("lift.object_range.2")
    env = session.inner._env  # type: ignore[attr-defined]
    after = np.array(env.sim.data.get_joint_qpos(cube.joints[0])[:2])
    assert np.allclose(after, 4.0 * before, atol=1e-9)  # Lift's range is centred on the table centre (0, 0)
    assert changed(arrays, model_arrays(live_scene(session)[0])) == set()
    session.close()
