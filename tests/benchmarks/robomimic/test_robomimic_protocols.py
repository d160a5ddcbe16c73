"""robomimic protocols: the published dataset combinations, robomimic's horizons and rollout rules, and the
robosuite keywords of its v1.5 datasets; the adapter's checks of task options (no simulator needed)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from vla_bench.benchmarks import ADAPTERS, DESCRIPTIONS
from vla_bench.benchmarks.robomimic.adapter import (
    NULL_CONTROLLER_KEYS,
    RobomimicAdapter,
    _without_reflections,
    task_options,
)
from vla_bench.datasets.robomimic_hdf5 import low_dim_keys
from vla_bench.protocols import get_protocol, protocol_ids
from vla_bench.spec import TaskDef

# robomimic/__init__.py register_all_links (REFERENCE.md 3.1): rollout horizon per (task, dataset type).
HORIZONS = {("lift", "ph"): 400, ("can", "ph"): 400, ("square", "ph"): 400, ("transport", "ph"): 700,
            ("tool_hang", "ph"): 700, ("lift", "mh"): 500, ("can", "mh"): 500, ("square", "mh"): 500,
            ("transport", "mh"): 1100}
ENV_NAMES = {"lift": "Lift", "can": "PickPlaceCan", "square": "NutAssemblySquare", "transport": "TwoArmTransport",
             "tool_hang": "ToolHang"}
# robomimic/scripts/generate_paper_configs.py: the image observation keys and sizes per task.
IMAGE_CAMERAS = {"lift": (("agentview", "robot0_eye_in_hand"), 84), "can": (("agentview", "robot0_eye_in_hand"), 84),
                 "square": (("agentview", "robot0_eye_in_hand"), 84),
                 "transport": (("shouldercamera0", "robot0_eye_in_hand", "shouldercamera1", "robot1_eye_in_hand"), 84),
                 "tool_hang": (("sideview", "robot0_eye_in_hand"), 240)}
# env_kwargs of robomimic's v1.5 Lift dataset (env_args, robosuite 1.5.1) without the rendering keys robomimic
# overrides at rollout time (has_renderer, has_offscreen_renderer, use_camera_obs, camera_*).
V15_ENV_KWARGS: dict[str, Any] = {
    "ignore_done": True, "use_object_obs": True, "control_freq": 20, "robots": ["Panda"], "reward_shaping": False,
    "lite_physics": False,
    "controller_configs": {"type": "BASIC", "body_parts": {"right": {
        "type": "OSC_POSE", "input_max": 1, "input_min": -1, "output_max": [0.05, 0.05, 0.05, 0.5, 0.5, 0.5],
        "output_min": [-0.05, -0.05, -0.05, -0.5, -0.5, -0.5], "kp": 150, "damping": 1, "impedance_mode": "fixed",
        "kp_limits": [0, 300], "damping_limits": [0, 10], "position_limits": None, "orientation_limits": None,
        "uncouple_pos_ori": True, "control_delta": True, "interpolation": None, "ramp_ratio": 0.2,
        "input_ref_frame": "world", "gripper": {"type": "GRIP"}}}},
}
EXPECTED_IDS = {f"robomimic/{task.replace('_', '-')}-{kind}{suffix}@v1"
                for task, kind in HORIZONS for suffix in ("", "-image")}


def _parts(protocol_id: str) -> tuple[str, str, bool]:
    suite = protocol_id.split("/")[1].split("@", maxsplit=1)[0]
    image = suite.endswith("-image")
    task, kind = suite.removesuffix("-image").rsplit("-", 1)
    return task.replace("-", "_"), kind, image


def test_shipped_protocols_are_the_combinations_robomimic_publishes() -> None:
    robustness = {"robomimic/lift-ph-image-robust@v1"}  # tested in tests/benchmarks/perturbations
    assert set(protocol_ids("robomimic")) == EXPECTED_IDS | robustness
    assert len(EXPECTED_IDS) == 18  # ph x 5 tasks + mh x 4 (no tool_hang mh), each low-dim and image


@pytest.mark.parametrize("protocol_id", sorted(EXPECTED_IDS))
def test_protocol_fixes_robomimics_rollout_rules(protocol_id: str) -> None:
    protocol = get_protocol(protocol_id)
    task_name, kind, image = _parts(protocol_id)
    assert protocol.adapter == "robomimic" and protocol.primary_metric == "success_rate"
    assert protocol.max_steps == HORIZONS[(task_name, kind)]
    assert (protocol.episodes_per_task, protocol.terminate_on_success, protocol.control_hz) == (50, True, 20.0)
    assert (protocol.success.kind, protocol.success.key, protocol.success.any_step) == ("info_flag", "success", True)
    assert protocol.init_states == "seeded"
    [task] = protocol.tasks
    assert (task.name, task.env_id) == (task_name, ENV_NAMES[task_name])
    assert protocol.sources and protocol.success.source
    if image:
        cameras, size = IMAGE_CAMERAS[task_name]
        assert protocol.observation.mode == "pixels+state" and protocol.observation.cameras == cameras
        assert protocol.observation.image_height == protocol.observation.image_width == size
    else:
        assert protocol.observation.mode == "state"
    assert not protocol.observation.language  # robomimic's policies get no instruction


@pytest.mark.parametrize("protocol_id", sorted(EXPECTED_IDS))
def test_robosuite_keywords_are_those_of_robomimics_v15_datasets(protocol_id: str) -> None:
    task_name, _, _ = _parts(protocol_id)
    _, kwargs = task_options(get_protocol(protocol_id).tasks[0])
    expected = dict(V15_ENV_KWARGS)
    if task_name == "transport":  # robomimic's transport datasets: two arms facing each other
        expected.update(robots=["Panda", "Panda"], env_configuration="single-arm-opposed")
    assert kwargs == expected


@pytest.mark.parametrize("protocol_id", sorted(EXPECTED_IDS))
def test_state_keys_are_robomimics_low_dim_keys_in_sorted_order(protocol_id: str) -> None:
    task_name, _, image = _parts(protocol_id)
    keys, _ = task_options(get_protocol(protocol_id).tasks[0])
    assert list(keys) == sorted(keys)  # robomimic concatenates its low-dim keys sorted
    n_robots = 2 if task_name == "transport" else 1
    # low-dim configs add the object state; image configs observe the robots only (generate_paper_configs.py)
    assert keys == low_dim_keys(n_robots, with_object=not image)
    assert ("object" in keys) is not image


def test_registry_entry_names_this_adapter() -> None:
    module, _, attr = ADAPTERS["robomimic"].partition(":")
    assert getattr(importlib.import_module(module), attr) is RobomimicAdapter
    assert RobomimicAdapter.name == "robomimic" and "robomimic" in DESCRIPTIONS


def _task(**env_kwargs: Any) -> TaskDef:
    base = get_protocol("robomimic/lift-ph@v1").tasks[0]
    return base.model_copy(update={"env_kwargs": env_kwargs})


def _lift_options() -> dict[str, Any]:
    return {key: value for key, value in get_protocol("robomimic/lift-ph@v1").tasks[0].env_kwargs.items()}


@pytest.mark.parametrize(("change", "message"), [
    ({"extra": 1}, r"unknown \['extra'\]"),
    ({"state_keys": "object"}, "state_keys must be a list"),
    ({"state_keys": ["object", "object"]}, "lists a key twice"),
    ({"robosuite": "Lift"}, "must be a table"),
])
def test_bad_task_options_are_refused_with_the_reason(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        task_options(_task(**(_lift_options() | change)))


@pytest.mark.parametrize(("robosuite_change", "drop", "message"), [
    ({"camera_names": ["agentview"]}, None, r"set from the protocol's \[observation\]"),
    ({"has_offscreen_renderer": True}, None, "set from the protocol"),
    ({}, "lite_physics", r"must state \['lite_physics'\]"),
    ({}, "controller_configs", "must state"),
    ({"ignore_done": False}, None, "ignore_done must be true"),
    ({"controller_configs": {"type": "OSC_POSE"}}, None, "composite controller config"),
])
def test_bad_robosuite_keywords_are_refused(robosuite_change: dict[str, Any], drop: str | None, message: str) -> None:
    options = _lift_options()
    robosuite_kwargs = {k: v for k, v in options["robosuite"].items() if k != drop} | robosuite_change
    with pytest.raises(ValueError, match=message):
        task_options(_task(state_keys=options["state_keys"], robosuite=robosuite_kwargs))


def test_null_controller_keys_are_restored_and_the_protocol_is_not_mutated() -> None:
    task = get_protocol("robomimic/lift-ph@v1").tasks[0]
    _, kwargs = task_options(task)
    right = kwargs["controller_configs"]["body_parts"]["right"]
    assert all(right[key] is None for key in NULL_CONTROLLER_KEYS)
    in_file = task.env_kwargs["robosuite"]["controller_configs"]["body_parts"]["right"]
    assert not set(NULL_CONTROLLER_KEYS) & set(in_file)


def test_xml_processor_turns_off_reflections_and_shadows() -> None:
    xml = ('<mujoco><asset><material name="floor" reflectance="0.8"/><material name="m"/></asset>'
           '<worldbody><light castshadow="true"/><light/><geom type="plane"/></worldbody></mujoco>')
    out = _without_reflections(xml)
    assert out.count('reflectance="0"') == 2 and out.count('castshadow="false"') == 2
    assert '<geom type="plane"' in out
