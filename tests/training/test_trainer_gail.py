"""GAIL from expert demonstrations on the fake point task (no environment reward reaches the learner): the
imitator's true return goes up through the harness, the export acts as SB3's policy, resume is exact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from vlab_fakes import fake_protocol

from vla_bench.spec import Observation, Protocol, TaskSpec
from vla_bench.training.offline import TrainOptions

# more discriminator steps per round than imitation's 2: a tiny budget needs a discriminator that keeps up
SMALL = {"n_steps": "256", "batch_size": "64", "n_epochs": "4", "hidden": "32", "learning_rate": "1e-3",
         "disc_updates": "16", "normalize_reward": "false"}


class Expert:
    """Steers the fake point to the origin (return about -32 where zero actions get -46)."""

    def reset(self, task: TaskSpec) -> None:
        pass

    def act(self, observation: Observation) -> NDArray[np.float32]:
        return np.tanh(-3.0 * np.asarray(observation["state"], dtype=np.float64)[:2]).astype(np.float32)


def single_task() -> Protocol:
    return fake_protocol(tasks=[{"name": "a", "env_id": "fake"}], episodes=12)


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vla_bench.harness.collect import collect

    path = tmp_path_factory.mktemp("gail") / "expert.hdf5"
    collect(Expert, single_task(), path, episodes=12)
    return path


def options(steps: int, *, stop_at: int | None = None, evaluate: bool = True) -> TrainOptions:
    return TrainOptions(steps=steps, seed=0, eval_episodes=12, checkpoint_every=512, progress=False,
                        stop_at=stop_at, evaluate_at_end=evaluate, options=dict(SMALL))


class Still(Expert):
    """What an untrained SB3 PPO policy does: its action head starts at ~0 (orthogonal init, gain 0.01)."""

    def act(self, observation: Observation) -> NDArray[np.float32]:
        return np.zeros(2, dtype=np.float32)


def test_gail_imitates_the_expert_without_its_reward(demos: Path, tmp_path: Path) -> None:
    from vla_bench.agents.loaders import load_agent
    from vla_bench.agents.policy import is_batched
    from vla_bench.datasets import read_d4rl
    from vla_bench.harness.api import evaluate
    from vla_bench.training.gail_train import train_gail

    result = train_gail(demos, single_task(), tmp_path / "gail", options=options(3072))
    before = evaluate(Still, single_task(), progress=False).scores["aggregate"]["mean"]["mean"]
    expert = evaluate(Expert, single_task(), progress=False).scores["aggregate"]["mean"]["mean"]
    assert result.last_eval is not None
    after = result.last_eval["mean_return"]
    data = read_d4rl(demos)
    imitator = load_agent(str(tmp_path / "gail" / "model.onnx")).factory()
    assert is_batched(imitator)
    imitated = np.asarray(imitator.act_batch([{"state": s} for s in data.observations]))
    mse, still_mse = float(((imitated - data.actions) ** 2).mean()), float((data.actions**2).mean())
    print(f"GAIL fake task: return {before:.2f} (untrained) -> {after:.2f} (expert {expert:.2f}); action MSE to "
          f"the expert {still_mse:.3f} -> {mse:.3f}")
    assert after > before + 0.5 * (expert - before)
    assert mse < 0.5 * still_mse
    manifest = json.loads((tmp_path / "gail" / "manifest.json").read_text())
    assert manifest["algo"] == "gail" and manifest["steps"] == 3072 and manifest["dataset"]["n_steps"] > 0


def test_gail_export_matches_sb3_and_resume_is_exact(demos: Path, tmp_path: Path) -> None:
    import onnxruntime as ort
    from safetensors.torch import load_file

    from vla_bench.training.gail_train import train_gail

    train_gail(demos, single_task(), tmp_path / "whole", options=options(1024, evaluate=False))
    train_gail(demos, single_task(), tmp_path / "pieces", options=options(1024, stop_at=512, evaluate=False))
    train_gail(demos, single_task(), tmp_path / "pieces", options=options(1024, evaluate=False))
    for name in ("weights.safetensors", "gail.safetensors"):
        whole = load_file(str(tmp_path / "whole" / "checkpoint" / name))
        resumed = load_file(str(tmp_path / "pieces" / "checkpoint" / name))
        assert set(whole) == set(resumed)
        for key in whole:
            assert np.array_equal(whole[key].numpy(), resumed[key].numpy()), (name, key)
    whole_state = json.loads((tmp_path / "whole" / "checkpoint" / "state.json").read_text())
    resumed_state = json.loads((tmp_path / "pieces" / "checkpoint" / "state.json").read_text())
    assert whole_state["vecnormalize"] == resumed_state["vecnormalize"]
    states = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    outputs = []
    for run in ("whole", "pieces"):
        session = ort.InferenceSession(str(tmp_path / run / "model.onnx"), providers=["CPUExecutionProvider"])
        outputs.append(session.run(["action"], {"state": states})[0])
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_gail_refuses_demonstrations_of_another_shape(tmp_path: Path) -> None:
    from vla_bench.datasets import write_d4rl
    from vla_bench.datasets.d4rl_format import OfflineDataset
    from vla_bench.spec.errors import UserError
    from vla_bench.training.gail_train import train_gail

    n = 10
    wrong = OfflineDataset.from_arrays({"observations": np.zeros((n, 5), np.float32),
                                        "actions": np.zeros((n, 2), np.float32), "rewards": np.zeros(n, np.float32),
                                        "terminals": np.eye(1, n, n - 1, dtype=bool)[0]})
    write_d4rl(tmp_path / "wrong.hdf5", wrong)
    with pytest.raises(UserError, match="states of 5"):
        train_gail(tmp_path / "wrong.hdf5", single_task(), tmp_path / "run", options=options(256))
