"""BC on data from a known deterministic policy (tests/vlab_fakes.py LinearPolicy on the fake env, collected
with `collect`): the trained policy must match the data-generating actions far better than at init."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from vlab_fakes import LinearPolicy, fake_protocol

from vla_bench.datasets import read_d4rl
from vla_bench.spec import TaskSpec
from vla_bench.training.algorithm import Problem
from vla_bench.training.bc import BC, BCConfig
from vla_bench.training.networks import ObsNormalizer
from vla_bench.training.offline import TrainOptions, train_offline
from vla_bench.training.replay import TensorReplay, behavior_arrays
from vla_bench.training.seeding import seed_everything


@pytest.fixture(scope="module")
def linear_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vla_bench.harness.collect import collect

    path = tmp_path_factory.mktemp("bc") / "linear.hdf5"
    collect(LinearPolicy, fake_protocol(episodes=4), path, episodes=15)
    return path


def expert_actions(states: np.ndarray) -> np.ndarray:
    policy = LinearPolicy()
    policy.reset(TaskSpec(name="a", instruction="", action_low=(-1.0, -1.0), action_high=(1.0, 1.0), max_steps=30,
                          observation_mode="state", state_dim=3))
    return np.stack([policy.act({"state": s}) for s in states])


@pytest.mark.parametrize(("head", "chunk"), [("deterministic", 1), ("gaussian", 1), ("deterministic", 3)])
def test_bc_matches_the_data_generating_policy(linear_dataset: Path, head: str, chunk: int) -> None:
    data = read_d4rl(linear_dataset)
    seed_everything(0)
    config = BCConfig(head=head, chunk=chunk, hidden=64, batch_size=64, lr=1e-3)
    normalizer = ObsNormalizer.fit(data.observations)
    algorithm = BC(config, Problem.from_dataset(data))
    replay = TensorReplay(behavior_arrays(data, normalizer, chunk=chunk), seed=0)
    states = torch.as_tensor(data.observations)
    target = expert_actions(data.observations)

    def error() -> float:
        with torch.no_grad():
            out = algorithm.policy()(normalizer(states)).numpy()
        first = out[:, 0] if chunk > 1 else out
        return float(((first - target) ** 2).mean())

    before = error()
    losses = [algorithm.update(replay.sample(config.batch_size), step)["loss"] for step in range(1, 301)]
    after = error()
    print(f"BC {head} chunk {chunk}: action MSE to the expert {before:.4f} -> {after:.4f}; "
          f"loss {np.mean(losses[:20]):.4f} -> {np.mean(losses[-20:]):.4f}")
    assert np.mean(losses[-20:]) < np.mean(losses[:20])
    assert after < 0.2 * before
    if chunk > 1:
        with torch.no_grad():
            assert algorithm.policy()(normalizer(states[:5])).shape == (5, chunk, 2)


def test_bc_through_the_training_loop_with_evaluation(linear_dataset: Path, tmp_path: Path) -> None:
    protocol = fake_protocol(episodes=2)
    result = train_offline("bc", linear_dataset, tmp_path / "run", protocol=protocol,
                           options=TrainOptions(steps=200, eval_every=100, eval_episodes=1, log_every=50,
                                                progress=False, options={"hidden": "64", "batch_size": "64"}))
    evals = (tmp_path / "run" / "eval.csv").read_text().splitlines()
    assert len(evals) == 3  # header, step 100, step 200
    assert result.last_eval is not None and result.last_eval["errors"] == 0
    assert (tmp_path / "run" / "curve.png").stat().st_size > 1000
    assert result.model is not None and result.model.is_file()
