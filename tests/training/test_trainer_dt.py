"""Decision Transformer: return-conditioned cloning of mixed-quality data improves on the start policy through
the harness, the exported graphs + the per-episode context wrapper act exactly as the torch modules, and a
resumed run equals an uninterrupted one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from training_testing import checkpoint_problem, needs_native_bf16
from vlab_fakes import fake_protocol

from vla_bench.spec import Observation, Protocol, TaskSpec
from vla_bench.training.offline import TrainOptions, TrainResult, train_offline

# returns here are tens, not Hopper's thousands: a larger reward_scale than CORL's 1e-3 keeps them visible
TINY = {"embedding_dim": 32, "num_layers": 1, "seq_len": 5, "batch_size": 32, "warmup_steps": 10, "lr": 1e-3,
        "reward_hidden": 32, "reward_scale": 0.02}
PRECISIONS = ["fp32", pytest.param("bf16", marks=needs_native_bf16)]


class Steer:
    """Drives the fake point towards the origin (good returns) or pushes it away (bad returns)."""

    def __init__(self, sign: float) -> None:
        self.sign = sign

    def reset(self, task: TaskSpec) -> None:
        pass

    def act(self, observation: Observation) -> NDArray[np.float32]:
        state = np.asarray(observation["state"], dtype=np.float64)
        return np.tanh(-self.sign * 3.0 * state[:2]).astype(np.float32)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Half the episodes steer well, half badly: cloning all of it is mediocre, asking for a high return is not."""
    from vla_bench.datasets import read_d4rl, write_d4rl
    from vla_bench.datasets.d4rl_format import OfflineDataset
    from vla_bench.harness.collect import collect

    root = tmp_path_factory.mktemp("dt")
    parts = []
    for name, sign in (("good", 1.0), ("bad", -1.0)):
        collect(lambda s=sign: Steer(s), fake_protocol(episodes=6), root / f"{name}.hdf5", episodes=12, noise=0.3)
        parts.append(read_d4rl(root / f"{name}.hdf5").arrays())
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "next_observations"}
    write_d4rl(root / "mixed.hdf5", OfflineDataset.from_arrays(merged))
    return root / "mixed.hdf5"


def train(dataset: Path, out: Path, steps: int, *, stop_at: int | None = None,
          protocol: Protocol | None = None, precision: str = "fp32") -> TrainResult:
    return train_offline("dt", dataset, out, protocol=protocol,
                         options=TrainOptions(steps=steps, seed=0, log_every=10, checkpoint_every=25, progress=False,
                                              eval_episodes=6, stop_at=stop_at,
                                              options={**TINY, "precision": precision}))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_dt_improves_on_its_start_and_follows_the_return_it_is_asked_for(mixed: Path, tmp_path: Path,
                                                                        precision: str) -> None:
    from vla_bench.agents.dt_policy import ContextPolicy
    from vla_bench.agents.loaders import load_agent
    from vla_bench.harness.api import evaluate

    protocol = fake_protocol(episodes=6)
    start = train(mixed, tmp_path / "start", 1, protocol=protocol, precision=precision)
    trained = train(mixed, tmp_path / "trained", 500, protocol=protocol, precision=precision)
    assert start.last_eval is not None and trained.last_eval is not None
    before, after = start.last_eval["mean_return"], trained.last_eval["mean_return"]
    assert before is not None and after is not None
    history = trained.history
    factory = load_agent(str(tmp_path / "trained" / "model.onnx")).factory

    def asks_for_a_low_return() -> ContextPolicy:
        policy = factory()
        assert isinstance(policy, ContextPolicy)  # the exported DT's per-episode context wrapper
        policy.target_return = -80.0  # a bad episode's return in the data
        return policy

    low = evaluate(asks_for_a_low_return, protocol, progress=False).scores["aggregate"]["mean"]["mean"]
    print(f"DT ({precision}) on the fake point task: return {before:.2f} -> {after:.2f} (asked for -80: {low:.2f}); "
          f"action MSE {history[0]['action_mse']:.3f} -> {history[-1]['action_mse']:.3f}")
    assert trained.last_eval["errors"] == 0
    assert after > before + 0.05 * abs(before)
    assert low < after - 20.0  # the return-to-go input steers the policy
    assert history[-1]["action_mse"] < 0.6 * history[0]["action_mse"]
    assert history[-1]["reward_mse"] < 0.5 * history[0]["reward_mse"]


def test_dt_export_acts_as_the_torch_modules(mixed: Path, tmp_path: Path) -> None:
    from vla_bench.agents.loaders import load_agent
    from vla_bench.datasets import read_d4rl
    from vla_bench.training import offline_algorithm
    from vla_bench.training.algorithm import config_from_dict
    from vla_bench.training.checkpoints import load_checkpoint
    from vla_bench.training.networks import ObsNormalizer
    from vla_bench.training.replay import TensorReplay

    out = tmp_path / "run"
    train(mixed, out, 30)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["algo"] == "dt" and manifest["context"]["seq_len"] == TINY["seq_len"]
    data = read_d4rl(mixed)
    algorithm_class, config_class = offline_algorithm("dt")
    algorithm = algorithm_class(config_from_dict(config_class, manifest["config"]), checkpoint_problem(out))
    normalizer = ObsNormalizer.fit(data.observations)
    load_checkpoint(out, algorithm, TensorReplay(algorithm.sequence_arrays(data, normalizer), seed=0))
    torch_policy = algorithm.acting_policy(normalizer)()
    onnx_policy = load_agent(str(out / "model.onnx")).factory()
    other = load_agent(str(out / "model.onnx")).factory()  # a second episode: its own context
    task = TaskSpec(name="a", instruction="", action_low=(-1.0,) * 2, action_high=(1.0,) * 2, max_steps=30,
                    observation_mode="state")
    for policy in (torch_policy, onnx_policy, other):
        policy.reset(task)
    rng = np.random.default_rng(0)
    for step in range(12):  # longer than the context: the window slides
        observation: Observation = {"state": (rng.normal(size=3) * 3).astype(np.float32)}
        expected, got = torch_policy.act(observation), onnx_policy.act(observation)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        if step == 0:
            np.testing.assert_allclose(other.act(observation), expected, rtol=1e-5, atol=1e-5)
    zero: Observation = {"state": np.zeros(3, np.float32)}
    assert not np.allclose(other.act(zero), onnx_policy.act(zero))  # different histories, different actions


@pytest.mark.parametrize("precision", PRECISIONS)
def test_dt_resume_equals_uninterrupted(mixed: Path, tmp_path: Path, precision: str) -> None:
    from safetensors.torch import load_file

    train(mixed, tmp_path / "whole", 60, precision=precision)
    train(mixed, tmp_path / "pieces", 60, stop_at=37, precision=precision)  # "killed" after 37; checkpoint at 37
    train(mixed, tmp_path / "pieces", 60, precision=precision)
    whole = load_file(str(tmp_path / "whole" / "checkpoint" / "weights.safetensors"))
    resumed = load_file(str(tmp_path / "pieces" / "checkpoint" / "weights.safetensors"))
    assert set(whole) == set(resumed)
    for key in whole:
        assert np.array_equal(whole[key].numpy(), resumed[key].numpy()), key
    assert (tmp_path / "whole" / "reward.onnx").read_bytes() == (tmp_path / "pieces" / "reward.onnx").read_bytes()


@needs_native_bf16
def test_dt_bf16_changes_the_training_and_is_recorded(mixed: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    for precision in ("fp32", "bf16"):
        train(mixed, tmp_path / precision, 30, precision=precision)
    full = load_file(str(tmp_path / "fp32" / "checkpoint" / "weights.safetensors"))
    mixed_precision = load_file(str(tmp_path / "bf16" / "checkpoint" / "weights.safetensors"))
    assert any(not np.array_equal(full[key].numpy(), mixed_precision[key].numpy()) for key in full)
    assert json.loads((tmp_path / "bf16" / "manifest.json").read_text())["config"]["precision"] == "bf16"
