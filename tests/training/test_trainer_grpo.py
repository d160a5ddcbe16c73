"""GRPO on the fake point task through the adapter session: group advantages, return goes up, the export
acts as the torch actor, and a resumed run equals an uninterrupted one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from vlab_fakes import fake_protocol

from vla_bench.training.grpo import group_advantages
from vla_bench.training.grpo_train import train_grpo
from vla_bench.training.offline import TrainOptions

SMALL = {"hidden": "32", "group_size": "4", "groups": "4", "lr": "3e-3"}


def options(steps: int, *, stop_at: int | None = None, evaluate: bool = True) -> TrainOptions:
    return TrainOptions(steps=steps, seed=0, eval_episodes=6, checkpoint_every=400, progress=False,
                        stop_at=stop_at, evaluate_at_end=evaluate, options=dict(SMALL))


def test_group_advantages_are_relative_to_the_group() -> None:
    outcomes = np.array([1.0, 3.0, 10.0, 10.0, 0.0, 0.0, 0.0, 4.0])
    np.testing.assert_allclose(group_advantages(outcomes, 4, normalize_std=False),
                               [-5.0, -3.0, 4.0, 4.0, -1.0, -1.0, -1.0, 3.0])
    normalized = group_advantages(outcomes, 4, normalize_std=True).reshape(2, 4)
    np.testing.assert_allclose(normalized.mean(1), 0.0, atol=1e-9)
    np.testing.assert_allclose(normalized.std(1), 1.0, rtol=1e-6)
    assert np.all(group_advantages(np.ones(4), 4, normalize_std=True) == 0.0)  # a tied group teaches nothing


def test_grpo_return_goes_up_and_export_matches(tmp_path: Path) -> None:
    import onnxruntime as ort
    import torch

    from vla_bench.agents.loaders import load_agent
    from vla_bench.agents.policy import is_batched
    from vla_bench.harness.api import evaluate

    protocol = fake_protocol(episodes=6)
    result = train_grpo(protocol, tmp_path / "grpo", options=options(2000))
    returns = [row["episode_return"] for row in result.history]
    start = evaluate(_untrained_policy, protocol, progress=False).scores["aggregate"]["mean"]["mean"]
    assert result.last_eval is not None
    final = result.last_eval["mean_return"]
    print(f"GRPO fake task: training returns {np.mean(returns[:3]):.2f} -> {np.mean(returns[-3:]):.2f}; "
          f"evaluation {start:.2f} -> {final:.2f}")
    assert final > start + 0.15 * abs(start)
    manifest = json.loads((tmp_path / "grpo" / "manifest.json").read_text())
    assert manifest["algo"] == "grpo" and manifest["steps"] == result.steps >= 2000
    session = ort.InferenceSession(str(tmp_path / "grpo" / "model.onnx"), providers=["CPUExecutionProvider"])
    states = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32) * 5
    (got,) = session.run(["action"], {"state": states})
    policy = load_agent(str(tmp_path / "grpo" / "model.onnx")).factory()
    assert is_batched(policy)
    np.testing.assert_allclose(policy.act_batch([{"state": s} for s in states]), got, rtol=1e-6)
    from safetensors.torch import load_file

    weights = load_file(str(tmp_path / "grpo" / "checkpoint" / "weights.safetensors"))
    from vla_bench.training.grpo import RunningNormalizer

    norm = RunningNormalizer(3)
    norm.load_state_dict({k.split(".", 2)[2]: v for k, v in weights.items() if k.startswith("module.normalizer.")})
    net = torch.nn.Sequential(*[torch.nn.Linear(3, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(),
                                torch.nn.Linear(32, 2)])
    net.load_state_dict({k[len("module.actor.net."):]: v for k, v in weights.items()
                         if k.startswith("module.actor.net.")})
    with torch.no_grad():
        expected = net(norm(torch.as_tensor(states))).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def _untrained_policy() -> object:
    import torch

    from vla_bench.training.algorithm import Problem
    from vla_bench.training.export import ExportedPolicy, TorchPolicy
    from vla_bench.training.grpo import GRPO, GRPOConfig
    from vla_bench.training.seeding import seed_everything

    seed_everything(0)
    algorithm = GRPO(GRPOConfig(hidden=32), Problem(3, 2, (-1.0, -1.0), (1.0, 1.0)))
    with torch.no_grad():
        algorithm.normalizer.update(torch.randn(64, 3))
    return TorchPolicy(ExportedPolicy(algorithm.normalizer, algorithm.actor))


def test_grpo_resume_equals_uninterrupted(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    protocol = fake_protocol(episodes=2)
    train_grpo(protocol, tmp_path / "whole", options=options(900, evaluate=False))
    train_grpo(protocol, tmp_path / "pieces", options=options(900, stop_at=500, evaluate=False))
    train_grpo(protocol, tmp_path / "pieces", options=options(900, evaluate=False))
    whole = load_file(str(tmp_path / "whole" / "checkpoint" / "weights.safetensors"))
    resumed = load_file(str(tmp_path / "pieces" / "checkpoint" / "weights.safetensors"))
    assert set(whole) == set(resumed)
    for key in whole:
        assert torch.equal(whole[key], resumed[key]), key
    from vla_bench.training.logs import read_csv

    def logged(run: str) -> list[dict[str, str]]:  # every column but the wall-clock speed
        return [{k: v for k, v in row.items() if k != "steps_per_s"} for row in read_csv(tmp_path / run / "train.csv")]

    assert logged("pieces") == logged("whole") and len(logged("whole")) >= 2


@pytest.mark.parametrize("bad", [{"group_size": "1"}, {"outcome": "vibes"}, {"nope": "1"}])
def test_grpo_refuses_bad_options(bad: dict[str, str], tmp_path: Path) -> None:
    from vla_bench.spec.errors import UserError

    with pytest.raises(UserError, match="grpo"):
        train_grpo(fake_protocol(episodes=2), tmp_path / "bad", options=TrainOptions(steps=10, options=bad))
