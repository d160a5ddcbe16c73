"""`vla-bench eval-offline`: action errors on a dataset's held-out episodes, with intervals, no simulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vla_bench.agents.loaders import agent_from_object
from vla_bench.datasets import DatasetError, OfflineDataset, write_d4rl
from vla_bench.harness.offline_eval import evaluate_offline, heldout_indices, load_heldout

WEIGHTS = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
ROOT = Path(__file__).resolve().parents[2]
BC_HOPPER = ROOT / "results" / "agents" / "bc-hopper-medium" / "model.onnx"


def _dataset(path: Path, episodes: int = 40, length: int = 25) -> Path:
    rng = np.random.default_rng(1)
    observations = rng.normal(size=(episodes * length, 5)).astype(np.float32)
    actions = observations @ WEIGHTS + rng.normal(0, 0.1, (episodes * length, 2)).astype(np.float32)
    timeouts = np.zeros(episodes * length, bool)
    timeouts[length - 1::length] = True
    write_d4rl(path, OfflineDataset.from_arrays({"observations": observations, "actions": actions,
                                                 "rewards": np.zeros(len(actions)), "terminals": np.zeros(len(actions)),
                                                 "timeouts": timeouts}))
    return path


class Linear:
    def reset(self, task: object) -> None: ...
    def act(self, observation: dict) -> np.ndarray:
        return observation["state"] @ WEIGHTS


class Zero:
    def reset(self, task: object) -> None: ...
    def act(self, observation: dict) -> np.ndarray:
        return np.zeros(2, np.float32)


def test_the_held_out_split_is_a_fixed_tenth_of_the_episodes() -> None:
    chosen = heldout_indices(1000)
    assert chosen == heldout_indices(1000) and 70 < len(chosen) < 130
    assert heldout_indices(100)[:3] == [i for i in chosen if i < 100][:3]  # a pure function of the index
    assert heldout_indices(1) == [0]


def test_errors_with_intervals_rank_the_right_policy_first(tmp_path: Path) -> None:
    episodes, info = load_heldout(_dataset(tmp_path / "d.hdf5"))
    assert info["format"] == "d4rl" and info["episodes_total"] == 40
    assert len(episodes) == info["episodes_heldout"] == len(heldout_indices(40))
    good = evaluate_offline(agent_from_object(Linear), episodes)
    bad = evaluate_offline(agent_from_object(Zero), episodes)
    mse = good["metrics"]["action_mse"]
    assert mse["mean"] == pytest.approx(0.01, rel=0.3)  # the noise's variance
    assert mse["ci95"][0] <= mse["mean"] <= mse["ci95"][1]
    assert bad["metrics"]["action_mse"]["ci95"][0] > mse["ci95"][1]
    assert bad["metrics"]["normalized_mse"]["mean"] == pytest.approx(1.0, abs=0.25)
    assert good["n_steps"] == 25 * len(episodes) and len(good["per_dimension_mse"]) == 2


def _robomimic(path: Path, valid: list[str]) -> Path:
    """A small file in robomimic's layout (data/demo_N/{actions, rewards, dones, obs/*}, mask/valid)."""
    import h5py

    rng = np.random.default_rng(2)
    sizes = {"object": 10, "robot0_eef_pos": 3, "robot0_eef_quat": 4, "robot0_gripper_qpos": 2}
    with h5py.File(path, "w") as handle:
        data = handle.create_group("data")
        data.attrs["env_args"] = json.dumps({"env_name": "Lift", "env_version": "1.5.1", "type": 1,
                                             "env_kwargs": {"robots": ["Panda"]}})
        for i in range(5):
            demo = data.create_group(f"demo_{i}")
            demo.create_dataset("actions", data=rng.uniform(-1, 1, (6, 7)))
            demo.create_dataset("rewards", data=np.zeros(6))
            demo.create_dataset("dones", data=np.eye(6)[-1])
            demo.attrs["num_samples"] = 6
            obs = demo.create_group("obs")
            for key, size in sizes.items():
                obs.create_dataset(key, data=rng.normal(size=(6, size)))
        handle.create_group("mask").create_dataset("valid", data=np.array([n.encode() for n in valid]))
    return path


def test_robomimics_own_validation_split_is_used(tmp_path: Path) -> None:
    episodes, info = load_heldout(_robomimic(tmp_path / "r.hdf5", ["demo_3", "demo_4"]))
    assert info["split"] == "robomimic mask/valid" and len(episodes) == 2
    assert episodes[0].observations.shape == (6, 19)  # object 10 + eef pos 3 + quat 4 + gripper 2
    result = evaluate_offline(agent_from_object(ZeroSeven), episodes)
    assert result["n_episodes"] == 2 and result["metrics"]["action_mse"]["mean"] > 0


class ZeroSeven:
    def reset(self, task: object) -> None: ...
    def act(self, observation: dict) -> np.ndarray:
        return np.zeros(7, np.float32)


def test_a_policy_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    class Wide(Zero):
        def act(self, observation: dict) -> np.ndarray:
            return np.zeros(3, np.float32)

    episodes, _ = load_heldout(_dataset(tmp_path / "d.hdf5"))
    with pytest.raises(DatasetError, match="not a policy for this dataset"):
        evaluate_offline(agent_from_object(Wide), episodes)


@pytest.mark.slow  # collects a dataset in the simulator first (the evaluation itself needs none)
def test_cli_scores_the_agent_that_collected_the_data_as_exact(tmp_path: Path) -> None:
    data = tmp_path / "hopper.hdf5"
    cli = [sys.executable, "-m", "vla_bench.cli"]
    subprocess.run([*cli, "collect", "--agent", str(BC_HOPPER), "--protocol", "mujoco/hopper@v1", "--episodes", "12",
                    "--max-steps", "60", "--out", str(data)], check=True, capture_output=True, cwd=ROOT)
    result = subprocess.run([*cli, "eval-offline", "--agent", str(BC_HOPPER), "--dataset", str(data), "--format",
                             "json"], check=True, capture_output=True, text=True, cwd=ROOT)
    same = json.loads(result.stdout)
    assert same["metrics"]["action_mse"]["mean"] < 1e-10
    other = subprocess.run([*cli, "eval-offline", "--agent", "baseline:zero", "--dataset", str(data)],
                           check=True, capture_output=True, text=True, cwd=ROOT)
    assert "| action_mse |" in other.stdout
