"""The perturbation declaration of robustness protocols: expansion, validation, hashing, paired seeds."""

from __future__ import annotations

import numpy as np
import pytest

from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import Protocol
from vla_bench.spec.perturbation import PerturbationLevel


def _robust(**overrides: object) -> dict:
    data: dict = {
        "id": "demo/suite-robust@v1", "description": "d", "adapter": "mujoco", "episodes_per_task": 2,
        "max_steps": 10, "observation": {"mode": "state"}, "success": {"kind": "none"},
        "primary_metric": "mean_return",
        "tasks": [{"name": "a", "env_id": "Hopper-v5"}, {"name": "b", "env_id": "Ant-v5"}],
        "perturbation": {"clean_protocol": "demo/suite@v1", "axes": [
            {"name": "mass", "description": "m", "levels": [{"mass": [0.9, 1.1]}, {"mass": [0.8, 1.2]}]},
            {"name": "delay", "description": "d", "levels": [{"action_delay": 2}]}]},
    }
    data.update(overrides)
    return data


def test_tasks_expand_to_a_clean_arm_and_one_task_per_axis_and_level() -> None:
    protocol = Protocol.model_validate(_robust())
    assert protocol.task_names == ("a", "b", "a.mass.1", "b.mass.1", "a.mass.2", "b.mass.2", "a.delay.1", "b.delay.1")
    perturbed = protocol.task("b.mass.2")
    assert perturbed.perturbation is not None
    marks = perturbed.perturbation
    assert (marks.base_task, marks.axis, marks.level) == ("b", "mass", 2)
    assert perturbed.env_id == "Ant-v5"
    assert protocol.task("a").perturbation is None
    # a dumped protocol (what env workers and the server receive) loads back to the same protocol and hash
    again = Protocol.model_validate_json(protocol.model_dump_json())
    assert again == protocol and again.sha256() == protocol.sha256()


def test_every_arm_uses_the_clean_protocols_seeds() -> None:
    robust = Protocol.model_validate(_robust())
    clean = Protocol.model_validate({**_robust(id="demo/suite@v1"), "perturbation": None})
    for task in robust.task_names:
        base = task.split(".")[0]
        for index in range(2):
            assert episode_spec(robust, task, index).seed == episode_spec(clean, base, index).seed
    assert episode_spec(robust, "a", 0).seed != episode_spec(robust, "b", 0).seed


def test_shipped_robustness_protocols_pair_with_their_clean_protocols() -> None:
    for robust_id in ("mujoco/locomotion-robust@v1", "metaworld/mt10-robust@v1", "pandapickcube/vision-robust@v1",
                      "libero/spatial-robust@v1"):
        robust = get_protocol(robust_id)
        assert robust.perturbation is not None
        clean = get_protocol(robust.perturbation.clean_protocol)
        assert robust.episodes_per_task <= clean.episodes_per_task
        assert (robust.observation, robust.max_steps, robust.success, robust.seed_base, robust.init_states,
                robust.n_init_states) == (clean.observation, clean.max_steps, clean.success, clean.seed_base,
                                          clean.init_states, clean.n_init_states)
        clean_arm = [t for t in robust.tasks if t.perturbation is None]
        assert tuple(clean_arm) == clean.tasks
        for task in robust.task_names:
            base = robust.task(task).perturbation
            name = base.base_task if base else task
            assert episode_spec(robust, task, 3).seed == episode_spec(clean, name, 3).seed


def test_protocols_without_perturbations_hash_without_the_new_fields() -> None:
    protocol = get_protocol("mujoco/hopper@v1")
    assert "perturbation" not in protocol.canonical_json()
    assert "perturbation" in get_protocol("mujoco/locomotion-robust@v1").canonical_json()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"perturbation": {"clean_protocol": "demo/suite@v1", "axes": []}}, "at least 1 item"),
        ({"perturbation": {"clean_protocol": "demo/suite-robust@v1", "axes": [
            {"name": "x", "description": "d", "levels": [{"obs_noise": 0.1}]}]}}, "not itself"),
        ({"perturbation": {"clean_protocol": "demo/suite@v1", "axes": [
            {"name": "x", "description": "d", "levels": [{}]}]}}, "must change something"),
        ({"perturbation": {"clean_protocol": "demo/suite@v1", "axes": [
            {"name": "Bad Name", "description": "d", "levels": [{"obs_noise": 0.1}]}]}}, "must match"),
        ({"perturbation": {"clean_protocol": "demo/suite@v1", "axes": [
            {"name": "x", "description": "d", "levels": [{"mass": [1.2, 0.8]}]}]}}, "0 < lo <= hi"),
        ({"perturbation": {"clean_protocol": "demo/suite@v1", "axes": [
            {"name": "x", "description": "d", "levels": [{"obs_noise": 0.1}]},
            {"name": "x", "description": "d", "levels": [{"obs_noise": 0.2}]}]}}, "duplicate perturbation axes"),
        ({"perturbation": None, "tasks": [{"name": "a", "env_id": "Hopper-v5",
                                           "perturbation": {"base_task": "a", "axis": "x", "level": 1}}]},
         "no \\[perturbation\\] section"),
    ],
)
def test_bad_perturbation_sections_are_refused_with_the_reason(override: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Protocol.model_validate(_robust(**override))


def test_a_level_names_the_fields_it_sets() -> None:
    level = PerturbationLevel(camera_shift=0.05, camera_rotate=3.0, cameras=("front",))
    assert level.fields_set() == {"camera_shift", "camera_rotate"}


def test_the_libero_protocol_carries_libero_pros_values_and_pairs_with_libero_spatial() -> None:
    draft = get_protocol("libero/spatial-robust@v1")
    clean = get_protocol("libero/spatial@v1")
    assert draft.perturbation is not None and draft.perturbation.clean_protocol == clean.id
    pose = draft.perturbation.axis("camera").level(2).camera_pose
    assert pose is not None and (pose.position, pose.quaternion) == ((0.48, 0.24, 1.62), (0.61, 0.36, 0.36, 0.61))
    glare = draft.perturbation.axis("lighting").level(2)
    assert glare.light is not None and (glare.light.ambient, glare.light.diffuse, glare.light.specular,
                                        glare.brightness) == (0.02, 0.16, 0.01, 0.68)
    assert draft.perturbation.axis("image_noise").level(1).image_noise == 12.0
    moved = draft.perturbation.axis("object_pose").level(2)
    assert moved.object_offset == (0.17, -0.06) and moved.object_yaw_rad == pytest.approx(np.pi / 4)
    task = clean.task_names[3]
    for index in (0, 49):
        a, b = episode_spec(draft, f"{task}.object_pose.2", index), episode_spec(clean, task, index)
        assert (a.seed, a.init_index) == (b.seed, b.init_index)


def test_a_levels_unset_fields_are_not_hashed() -> None:
    """Adding an optional level field later must not change a published robustness protocol's hash."""
    import json

    section = json.dumps(json.loads(get_protocol("mujoco/locomotion-robust@v1").canonical_json())["perturbation"])
    assert '"friction": [0.75, 1.25]' in section and "null" not in section and '"recolor"' not in section
