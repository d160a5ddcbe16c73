"""MetaWorld MT10 robustness axes: camera pose, lights, image statistics, object pose, instruction text; each
changes what it claims and nothing else; the clean arm is mt10-pixels@v1 bit for bit."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from perturbation_testing import changed, live_scene, model_arrays

from vla_bench.benchmarks.base import EnvSession
from vla_bench.benchmarks.perturbations.language import paraphrase_table
from vla_bench.harness.registry import resolve_adapter
from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import Observation, Protocol

ROBUST = get_protocol("metaworld/mt10-robust@v1")
CLEAN = get_protocol("metaworld/mt10-pixels@v1")
TASK = "pick-place-v3"
INDEX = 1


def _open(protocol: Protocol, task: str) -> EnvSession:
    return resolve_adapter("metaworld").make_session(protocol, protocol.task(task))


@pytest.fixture(scope="module")
def clean() -> Iterator[tuple[EnvSession, Observation, dict[str, np.ndarray], np.ndarray]]:
    session = _open(CLEAN, TASK)
    observation = session.reset(episode_spec(CLEAN, TASK, INDEX))
    model, data = live_scene(session)
    yield session, observation, model_arrays(model), data.qpos.copy()
    session.close()


def _perturbed(clean: tuple, axis: str, level: int) -> tuple[Observation, set[str], np.ndarray, EnvSession]:
    """The first observation of the perturbed episode, the model arrays that differ from the clean episode's
    (both after reset: metaworld's reset writes the goal site), the joint positions, the session."""
    session = _open(ROBUST, f"{TASK}.{axis}.{level}")
    model, data = live_scene(session)
    observation = session.reset(episode_spec(ROBUST, TASK, INDEX))
    return observation, changed(clean[2], model_arrays(model)), data.qpos.copy(), session


def _image(observation: Observation) -> np.ndarray:
    return observation["images"]["corner4"].astype(np.float64)


def test_clean_arm_equals_the_clean_protocol(clean: tuple) -> None:
    _, observation, _, qpos = clean
    session = _open(ROBUST, TASK)
    again = session.reset(episode_spec(ROBUST, TASK, INDEX))
    assert np.array_equal(again["images"]["corner4"], observation["images"]["corner4"])
    assert np.array_equal(again["state"], observation["state"]) and again["instruction"] == observation["instruction"]
    assert np.array_equal(live_scene(session)[1].qpos, qpos)
    session.close()


def test_camera_moves_the_corner4_camera_in_the_model_and_nothing_else(clean: tuple) -> None:
    _, observation, nominal, qpos = clean
    moved, arrays, moved_qpos, session = _perturbed(clean, "camera", 3)
    assert arrays == {"cam_pos", "cam_quat"}
    model = live_scene(session)[0]
    corner4 = model.camera("corner4").id
    rows = np.flatnonzero(np.any(model.cam_pos != nominal["cam_pos"], axis=1))
    assert rows.tolist() == [corner4]
    assert np.all(np.abs(model.cam_pos[corner4] - nominal["cam_pos"][corner4]) <= 0.1)
    turned = abs(float(np.dot(model.cam_quat[corner4], nominal["cam_quat"][corner4])))
    assert np.degrees(2 * np.arccos(min(turned, 1.0))) <= 15.0 + 1e-6
    assert np.array_equal(moved_qpos, qpos) and np.array_equal(moved["state"], observation["state"])
    assert np.abs(_image(moved) - _image(observation)).mean() > 5.0
    session.close()


def test_lighting_scales_the_lights_only(clean: tuple) -> None:
    _, observation, nominal, _ = clean
    dark, arrays, _, session = _perturbed(clean, "lighting", 3)  # factor in U(0.15, 0.4)
    # every light colour is scaled (metaworld's lights have no ambient part: zero stays zero)
    assert {"light_diffuse", "headlight.diffuse"} <= arrays <= {
        "light_ambient", "light_diffuse", "light_specular", "headlight.ambient", "headlight.diffuse",
        "headlight.specular"}
    model = live_scene(session)[0]
    ratio = model.light_diffuse[nominal["light_diffuse"] > 0] / nominal["light_diffuse"][nominal["light_diffuse"] > 0]
    assert np.allclose(ratio, ratio.flat[0]) and 0.15 <= ratio.flat[0] <= 0.4
    assert _image(dark).mean() < _image(observation).mean() - 10
    assert np.array_equal(dark["state"], observation["state"])
    session.close()


@pytest.mark.parametrize(("axis", "level"), [("image_noise", 3), ("color", 2), ("cutout", 2)])
def test_image_axes_change_image_statistics_only(clean: tuple, axis: str, level: int) -> None:
    _, observation, _, qpos = clean
    seen, arrays, seen_qpos, session = _perturbed(clean, axis, level)
    assert arrays == set() and np.array_equal(seen_qpos, qpos)
    assert np.array_equal(seen["state"], observation["state"]) and seen["instruction"] == observation["instruction"]
    difference = _image(seen) - _image(observation)
    if axis == "image_noise":  # sigma 25.5, zero mean (clipping at 0/255 aside)
        assert 20.0 < difference.std() < 27.0 and abs(difference.mean()) < 3.0
    elif axis == "cutout":  # one grey square of 30% of the side
        changed_pixels = np.any(difference != 0, axis=2)
        rows, cols = np.flatnonzero(changed_pixels.any(axis=1)), np.flatnonzero(changed_pixels.any(axis=0))
        assert rows.ptp() < 0.3 * 224 + 1 and cols.ptp() < 0.3 * 224 + 1
        assert np.all(seen["images"]["corner4"][rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] == 128)
    else:
        assert np.abs(difference).mean() > 2.0
    session.close()


def test_object_pose_moves_the_object_only() -> None:
    session = _open(ROBUST, f"{TASK}.object_pose.3")
    session.reset(episode_spec(ROBUST, TASK, INDEX))
    env = session.inner._env  # type: ignore[attr-defined]
    moved = env._get_pos_objects()[:2]
    reference = _open(CLEAN, TASK)
    reference.reset(episode_spec(CLEAN, TASK, INDEX))
    original = reference._env._get_pos_objects()[:2]  # type: ignore[attr-defined]
    offset = moved - original
    assert np.all(np.abs(offset) <= 0.1 + 1e-9) and np.linalg.norm(offset) > 1e-3
    assert np.array_equal(env._target_pos, reference._env._target_pos)  # type: ignore[attr-defined]
    assert np.allclose(env.tcp_center, reference._env.tcp_center)  # type: ignore[attr-defined]
    session.close()
    reference.close()


def test_language_replaces_the_instruction_with_a_shipped_paraphrase(clean: tuple) -> None:
    _, observation, _, qpos = clean
    seen, arrays, seen_qpos, session = _perturbed(clean, "language", 2)
    table = paraphrase_table("metaworld")["instructions"][observation["instruction"]]
    assert seen["instruction"] in table[1] and seen["instruction"] != observation["instruction"]
    assert session.task_spec.instruction == seen["instruction"]
    assert arrays == set() and np.array_equal(seen_qpos, qpos)
    assert np.array_equal(seen["images"]["corner4"], observation["images"]["corner4"])
    step = session.step(np.zeros(4, np.float32))
    assert step.observation["instruction"] == seen["instruction"]
    session.close()


def test_every_mt10_instruction_has_two_paraphrase_sets() -> None:
    table = paraphrase_table("metaworld")
    assert table["source"]
    for task in CLEAN.tasks:
        sets = table["instructions"][task.instruction]
        assert len(sets) == 2 and all(len(s) >= 3 and task.instruction not in s for s in sets)


def test_table_color_swaps_the_tables_texture_only(clean: tuple) -> None:
    _, observation, nominal, qpos = clean
    seen, arrays, seen_qpos, session = _perturbed(clean, "table_color", 2)
    assert arrays == {"geom_rgba", "geom_matid"} and np.array_equal(seen_qpos, qpos)
    model = live_scene(session)[0]
    table = model.body("tablelink").id
    rows = np.flatnonzero(np.any(model.geom_rgba != nominal["geom_rgba"], axis=1))
    assert rows.size and all(int(model.geom_bodyid[g]) == table for g in rows)
    assert np.allclose(model.geom_rgba[rows], [0.15, 0.3, 0.75, 1.0])
    image, base = _image(seen), _image(observation)
    assert (image[..., 2] - image[..., 0]).mean() > (base[..., 2] - base[..., 0]).mean() + 10  # bluer
    session.close()
