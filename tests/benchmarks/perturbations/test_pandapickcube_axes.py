"""PandaPickCube robustness axes: cube range, front camera, lighting."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from perturbation_testing import changed, live_scene, model_arrays

from vla_bench.benchmarks.base import EnvSession
from vla_bench.benchmarks.pandapickcube.adapter import SERL_BLOCK_XY_BOUNDS
from vla_bench.harness.registry import resolve_adapter
from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import Protocol

ROBUST = get_protocol("pandapickcube/vision-robust@v1")
CLEAN = get_protocol("pandapickcube/vision@v1")


def _open(protocol: Protocol, task: str) -> EnvSession:
    return resolve_adapter("pandapickcube").make_session(protocol, protocol.task(task))


@pytest.fixture(scope="module")
def clean() -> Iterator[EnvSession]:
    session = _open(CLEAN, "pick_cube")
    yield session
    session.close()


def test_cube_range_widens_the_block_draw_about_its_centre_and_changes_nothing_else(clean: EnvSession) -> None:
    centre = SERL_BLOCK_XY_BOUNDS.mean(axis=0)
    wide = _open(ROBUST, "pick_cube.cube_range.2")
    for index in range(3):
        clean_obs = clean.reset(episode_spec(CLEAN, "pick_cube", index))
        wide_obs = wide.reset(episode_spec(ROBUST, "pick_cube", index))
        block = live_scene(clean)[1].jnt("block").qpos[:2]
        moved = live_scene(wide)[1].jnt("block").qpos[:2]
        assert np.allclose(moved - centre, 1.2 * (block - centre))
        assert changed(model_arrays(live_scene(clean)[0]), model_arrays(live_scene(wide)[0])) == set()
        assert np.array_equal(clean_obs["state"], wide_obs["state"])  # robot-only vision state
    wide.close()


@pytest.mark.parametrize(("axis", "expected"), [
    ("camera", {"cam_pos", "cam_quat"}),
    ("lighting", {"light_ambient", "light_diffuse", "light_specular", "headlight.ambient", "headlight.diffuse",
                  "headlight.specular"}),
])
def test_scene_axes(clean: EnvSession, axis: str, expected: set[str]) -> None:
    clean_obs = clean.reset(episode_spec(CLEAN, "pick_cube", 2))
    perturbed = _open(ROBUST, f"pick_cube.{axis}.3")
    obs = perturbed.reset(episode_spec(ROBUST, "pick_cube", 2))
    nominal, after = model_arrays(live_scene(clean)[0]), model_arrays(live_scene(perturbed)[0])
    found = changed(nominal, after)
    assert found <= expected and found & {"cam_pos", "light_diffuse"}
    assert np.array_equal(live_scene(clean)[1].qpos, live_scene(perturbed)[1].qpos)
    front = np.abs(obs["images"]["front"].astype(float) - clean_obs["images"]["front"]).mean()
    wrist = np.abs(obs["images"]["wrist"].astype(float) - clean_obs["images"]["wrist"]).mean()
    assert front > 5.0
    if axis == "camera":  # only the front camera moves; the wrist camera stays on the hand
        model = live_scene(perturbed)[0]
        rows = np.flatnonzero(np.any(after["cam_pos"] != nominal["cam_pos"], axis=1))
        assert rows.tolist() == [model.camera("front").id]
        assert wrist == 0.0
    perturbed.close()
