"""robomimic HDF5 reader: robomimic's layout, filter keys, env_args, the low-dim state in the robomimic
protocols' key order (checked against a real robosuite rollout), D4RL conversion, and errors that name the
problem."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from vla_bench.datasets import DatasetError, read_d4rl, write_d4rl
from vla_bench.datasets.robomimic_hdf5 import low_dim_keys, read_robomimic

ENV_ARGS = {"env_name": "Lift", "env_version": "1.5.1", "type": 1,
            "env_kwargs": {"robots": ["Panda"], "control_freq": 20, "reward_shaping": False}}
SIZES = {"object": 10, "robot0_eef_pos": 3, "robot0_eef_quat": 4, "robot0_gripper_qpos": 2}


def write_robomimic(path: Path, demos: Mapping[str, Mapping[str, Any]], *, env_args: Any = ENV_ARGS,
                    masks: Mapping[str, Sequence[str]] | None = None) -> Path:
    """A file in robomimic's layout (docs/datasets/overview.md): data/demo_N/{obs/*, next_obs/*, actions, ...}."""
    with h5py.File(path, "w") as handle:
        data = handle.create_group("data")
        if env_args is not None:
            data.attrs["env_args"] = env_args if isinstance(env_args, str) else json.dumps(env_args)
        total = 0
        for name, demo in demos.items():
            group = data.create_group(name)
            for key in ("actions", "rewards", "dones", "states"):
                if key in demo:
                    group.create_dataset(key, data=demo[key])
            for part in ("obs", "next_obs"):
                if part in demo:
                    sub = group.create_group(part)
                    for key, values in demo[part].items():
                        sub.create_dataset(key, data=values)
            group.attrs["num_samples"] = len(demo.get("actions", []))
            group.attrs["model_file"] = "<mujoco/>"
            total += len(demo.get("actions", []))
        data.attrs["total"] = total
        if masks:
            group = handle.create_group("mask")
            for name, demo_names in masks.items():
                group.create_dataset(name, data=np.array([n.encode() for n in demo_names]))
    return path


def synthetic_demo(length: int, seed: int, *, success: bool = True) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    obs = {key: rng.normal(size=(length + 1, size)) for key, size in SIZES.items()}
    dones = np.zeros(length, dtype=np.int64)
    rewards = np.zeros(length)
    if success:
        dones[-3:] = 1  # robomimic's done_mode 2: done at every success step and at the end
        rewards[-3:] = 1.0
    else:
        dones[-1] = 1
    return {"actions": rng.uniform(-1, 1, size=(length, 7)), "rewards": rewards, "dones": dones,
            "states": rng.normal(size=(length, 32)),
            "obs": {key: value[:-1] for key, value in obs.items()},
            "next_obs": {key: value[1:] for key, value in obs.items()}}


@pytest.fixture
def demos() -> dict[str, dict[str, Any]]:
    return {"demo_10": synthetic_demo(6, 10), "demo_2": synthetic_demo(5, 2), "demo_1": synthetic_demo(4, 1)}


def test_reads_demos_in_robomimics_order_with_env_args_and_masks(tmp_path: Path,
                                                                 demos: dict[str, dict[str, Any]]) -> None:
    path = write_robomimic(tmp_path / "low_dim.hdf5", demos, masks={"train": ["demo_1", "demo_10"],
                                                                    "valid": ["demo_2"]})
    data = read_robomimic(path)
    assert [demo.name for demo in data.demos] == ["demo_1", "demo_2", "demo_10"]  # by index, not by string
    assert data.env_args == ENV_ARGS and data.env_name == "Lift" and data.n_robots == 1 and data.action_dim == 7
    assert data.filter_keys == {"train": ["demo_1", "demo_10"], "valid": ["demo_2"]}
    demo = data.demos[2]
    source = demos["demo_10"]
    np.testing.assert_array_equal(demo.actions, source["actions"].astype(np.float32))
    assert demo.actions.dtype == np.float32 and demo.dones.dtype == np.bool_ and len(demo) == 6
    assert demo.states is not None  # the file stores them
    np.testing.assert_array_equal(demo.states, source["states"])
    assert set(demo.obs) == set(SIZES) and demo.model_file == "<mujoco/>"
    keys = data.state_keys()
    assert keys == ("object", "robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos")
    expected = np.concatenate([source["obs"][key] for key in keys], axis=1).astype(np.float32)
    np.testing.assert_array_equal(demo.state(keys), expected)
    next_state = demo.next_state(keys)
    assert next_state is not None  # the file stores next_obs
    np.testing.assert_array_equal(next_state[:-1], expected[1:])
    assert data.state_keys(with_object=False) == keys[1:]
    train = read_robomimic(path, filter_key="valid")
    assert [demo.name for demo in train.demos] == ["demo_2"] and train.filter_key == "valid"


def test_low_dim_keys_of_two_arms_are_sorted() -> None:
    assert low_dim_keys(2) == ("object", "robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos",
                               "robot1_eef_pos", "robot1_eef_quat", "robot1_gripper_qpos")


def test_images_are_read_only_when_named(tmp_path: Path, demos: dict[str, dict[str, Any]]) -> None:
    demos["demo_1"]["obs"]["agentview_image"] = np.zeros((4, 84, 84, 3), dtype=np.uint8)
    for name in ("demo_2", "demo_10"):
        demos[name]["obs"]["agentview_image"] = np.zeros((len(demos[name]["actions"]), 84, 84, 3), dtype=np.uint8)
    path = write_robomimic(tmp_path / "image.hdf5", demos)
    assert "agentview_image" not in read_robomimic(path).demos[0].obs
    named = read_robomimic(path, obs_keys=["agentview_image", "object"], next_obs=False)
    assert named.demos[0].obs["agentview_image"].shape == (4, 84, 84, 3) and named.demos[0].next_obs is None


def test_converts_to_a_d4rl_dataset_the_trainers_read(tmp_path: Path, demos: dict[str, dict[str, Any]]) -> None:
    demos["demo_2"] = synthetic_demo(5, 2, success=False)
    demos["demo_2"]["dones"][-1] = 0  # a demo that ended without done: a timeout
    data = read_robomimic(write_robomimic(tmp_path / "low_dim.hdf5", demos))
    offline = data.to_offline_dataset(protocol_id="robomimic/lift-ph@v1")
    assert len(offline) == 15 and offline.obs_dim == 19 and offline.action_dim == 7
    assert offline.episode_bounds() == [(0, 4), (4, 9), (9, 15)]  # one episode per demo, interior dones dropped
    assert offline.terminals.tolist() == [False] * 3 + [True] + [False] * 10 + [True]
    assert offline.timeouts.tolist() == [False] * 8 + [True] + [False] * 6
    np.testing.assert_array_equal(offline.observations[4:9], data.demos[1].state(data.state_keys()))
    assert offline.next_observations is not None
    np.testing.assert_array_equal(offline.next_observations[:3], offline.observations[1:4])
    path = write_d4rl(tmp_path / "d4rl.hdf5", offline, metadata=offline.metadata)
    back = read_d4rl(path, expected_obs_dim=19, expected_action_dim=7)
    assert back.metadata["protocol_id"] == "robomimic/lift-ph@v1"  # what `vla-bench train` checks
    np.testing.assert_array_equal(back.observations, offline.observations)


# ---------------------------------------------------------------------------------------------- bad files
def _broken(tmp_path: Path, change: str) -> Path:
    demos = {"demo_0": synthetic_demo(4, 0), "demo_1": synthetic_demo(3, 1)}
    env_args: Any = ENV_ARGS
    if change == "no_actions":
        del demos["demo_1"]["actions"]
    elif change == "short_rewards":
        demos["demo_1"]["rewards"] = demos["demo_1"]["rewards"][:-1]
    elif change == "short_obs":
        demos["demo_0"]["obs"]["object"] = demos["demo_0"]["obs"]["object"][:-1]
    elif change == "nan_action":
        demos["demo_0"]["actions"][1, 2] = np.nan
    elif change == "bad_dones":
        demos["demo_0"]["dones"][0] = 2
    elif change == "action_sizes":
        demos["demo_1"]["actions"] = np.zeros((3, 14))
    elif change == "bad_name":
        demos["trajectory_0"] = demos.pop("demo_0")
    elif change == "no_env_args":
        env_args = None
    elif change == "bad_json":
        env_args = "{not json"
    elif change == "no_env_name":
        env_args = {"env_kwargs": {}}
    return write_robomimic(tmp_path / f"{change}.hdf5", demos, env_args=env_args)


@pytest.mark.parametrize(("change", "message"), [
    ("no_actions", r"data/demo_1 has no 'actions'"),
    ("short_rewards", r"demo_1/rewards has 2 rows but the demo has 3 actions"),
    ("short_obs", r"demo_0/obs/object has 3 rows but the demo has 4 actions"),
    ("nan_action", r"demo_0/actions holds non-finite values"),
    ("bad_dones", r"dones must hold 0/1 flags"),
    ("action_sizes", r"different action sizes \[7, 14\]"),
    ("bad_name", r"robomimic names its demos 'demo_N'"),
    ("no_env_args", r"no 'env_args' attribute"),
    ("bad_json", r"env_args'\] is not valid JSON"),
    ("no_env_name", r"must be a JSON object with 'env_name'"),
])
def test_malformed_files_are_refused_with_the_reason(tmp_path: Path, change: str, message: str) -> None:
    path = _broken(tmp_path, change)
    with pytest.raises(DatasetError, match=message) as raised:
        read_robomimic(path)
    assert str(path) in str(raised.value)


def test_missing_file_group_filter_and_keys_are_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        read_robomimic(tmp_path / "absent.hdf5")
    (tmp_path / "text.hdf5").write_text("not hdf5")
    with pytest.raises(DatasetError, match="not a readable HDF5 file"):
        read_robomimic(tmp_path / "text.hdf5")
    with h5py.File(tmp_path / "d4rl.hdf5", "w") as handle:
        handle.create_dataset("observations", data=np.zeros((2, 3)))
    with pytest.raises(DatasetError, match=r"no 'data' group; not a robomimic dataset .* Found: observations"):
        read_robomimic(tmp_path / "d4rl.hdf5")
    path = write_robomimic(tmp_path / "ok.hdf5", {"demo_0": synthetic_demo(3, 0)}, masks={"train": ["demo_0"]})
    with pytest.raises(DatasetError, match="no filter key 'valid'; the file has train"):
        read_robomimic(path, filter_key="valid")
    with pytest.raises(DatasetError, match=r"obs has no \['robot1_eef_pos'\]"):
        read_robomimic(path, obs_keys=["robot1_eef_pos"])
    with pytest.raises(DatasetError, match=r"observation keys \['agentview_image'\] were not read"):
        read_robomimic(path).demos[0].state(["object", "agentview_image"])


# ------------------------------------------------------------------------------- a real robosuite rollout
def test_state_matches_the_robomimic_adapter_on_a_real_rollout(tmp_path: Path) -> None:
    """Roll robosuite through the lift-ph session, write what robomimic's dataset scripts record (per-key
    observations, robomimic's 'object' = robosuite's object-state, flattened MuJoCo states), and read it back:
    the reader's state must equal the session's observation, in the protocols' key order."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from vla_bench.benchmarks.robomimic.adapter import RobomimicAdapter, task_options
    from vla_bench.protocols import get_protocol
    from vla_bench.spec import EpisodeSpec

    protocol = get_protocol("robomimic/lift-ph@v1")
    keys, kwargs = task_options(protocol.tasks[0])
    session = RobomimicAdapter().make_session(protocol, protocol.tasks[0])
    env = session._env  # type: ignore[attr-defined]
    demos, observed = {}, []
    rng = np.random.default_rng(0)
    try:
        for index, length in enumerate((6, 4)):
            states, raw_obs, actions, rewards = [], [], [], []
            observation = session.reset(EpisodeSpec(task="lift", task_index=0, episode_index=index, seed=index))
            for _ in range(length):
                observed.append(observation["state"])
                raw = env.observation_spec()
                raw_obs.append({key: np.array(raw["object-state" if key == "object" else key]) for key in SIZES})
                states.append(np.array(env.sim.get_state().flatten()))
                action = rng.uniform(-1.0, 1.0, 7).astype(np.float32)
                result = session.step(action)
                actions.append(action)
                rewards.append(result.reward)
                observation = result.observation
            demos[f"demo_{index}"] = {
                "actions": np.array(actions, dtype=np.float64), "rewards": np.array(rewards),
                "dones": np.eye(1, length, length - 1, dtype=np.int64)[0], "states": np.array(states),
                "obs": {key: np.array([o[key] for o in raw_obs]) for key in SIZES}}
    finally:
        session.close()
    env_args = {"env_name": "Lift", "env_version": "1.5.2", "type": 1, "env_kwargs": kwargs}
    data = read_robomimic(write_robomimic(tmp_path / "rollout.hdf5", demos, env_args=env_args))
    assert data.state_keys() == keys  # the reader's default order is the protocol's
    np.testing.assert_array_equal(np.concatenate([demo.state(keys) for demo in data.demos]), np.array(observed))
    controller = data.env_kwargs["controller_configs"]
    assert isinstance(controller, dict) and controller["body_parts"]["right"]["type"] == "OSC_POSE"
    assert data.demos[0].states is not None and data.demos[0].states.shape[0] == 6
