"""Every offline trainer: ONNX export round trip (onnxruntime == torch), loading without trainer code,
checkpoint resume == uninterrupted run, same seed -> same weights, other seed -> other weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from training_testing import checkpoint_problem
from vlab_fakes import LinearPolicy, fake_protocol

from vla_bench.agents.policy import is_batched
from vla_bench.datasets import read_d4rl
from vla_bench.spec import Observation
from vla_bench.training.offline import TrainOptions, train_offline

ALGOS: dict[str, dict[str, object]] = {
    "bc": {"hidden": 32},
    "bc-chunk": {"hidden": 32, "chunk": 4, "head": "gaussian"},
    "iql": {"hidden": 32},
    "td3bc": {"hidden": 32},
    "cql": {"hidden": 32, "layers": 2, "bc_steps": 20},
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vla_bench.harness.collect import collect

    path = tmp_path_factory.mktemp("export") / "linear.hdf5"
    collect(LinearPolicy, fake_protocol(episodes=4), path, episodes=8, noise=0.2)
    return path


def run(case: str, dataset: Path, out: Path, *, steps: int = 60, seed: int = 0, stop_at: int | None = None) -> Path:
    algo = case.split("-", maxsplit=1)[0]
    train_offline(algo, dataset, out, protocol=None,
                  options=TrainOptions(steps=steps, seed=seed, log_every=10, checkpoint_every=25, progress=False,
                                       stop_at=stop_at, options={**ALGOS[case], "batch_size": 32}))
    return out


def weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(str(directory / "checkpoint" / "weights.safetensors"))


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    keys = [k for k in a if not k.startswith("rng.")]
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in keys)


@pytest.mark.parametrize("case", sorted(ALGOS))
def test_resume_and_seeds(case: str, dataset: Path, tmp_path: Path) -> None:
    whole = weights(run(case, dataset, tmp_path / "whole"))
    run(case, dataset, tmp_path / "pieces", stop_at=37)  # "killed" after step 37: last checkpoint at 25
    assert json.loads((tmp_path / "pieces" / "checkpoint" / "state.json").read_text())["step"] == 37
    resumed = weights(run(case, dataset, tmp_path / "pieces"))
    assert same(whole, resumed), "resumed run differs from the uninterrupted one"
    assert same(whole, weights(run(case, dataset, tmp_path / "again"))), "same seed gave other weights"
    assert not same(whole, weights(run(case, dataset, tmp_path / "other", seed=1)))
    rows = (tmp_path / "pieces" / "train.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == [str(s) for s in range(10, 61, 10)]


@pytest.mark.parametrize("case", sorted(ALGOS))
def test_onnx_round_trip(case: str, dataset: Path, tmp_path: Path) -> None:
    import onnxruntime as ort

    from vla_bench.agents.exported import load_exported
    from vla_bench.agents.loaders import load_agent
    from vla_bench.training import offline_algorithm
    from vla_bench.training.algorithm import config_from_dict
    from vla_bench.training.checkpoints import load_checkpoint
    from vla_bench.training.export import ExportedPolicy
    from vla_bench.training.networks import ObsNormalizer
    from vla_bench.training.replay import TensorReplay, transition_arrays

    out = run(case, dataset, tmp_path / "run", steps=30)
    manifest = json.loads((out / "manifest.json").read_text())
    data = read_d4rl(dataset)
    assert manifest["obs_dim"] == 3 and manifest["action_dim"] == 2 and manifest["steps"] == 30
    assert manifest["chunk"] == ALGOS[case].get("chunk", 1)
    # rebuild the torch policy from the checkpoint alone
    algorithm_class, config_class = offline_algorithm(manifest["algo"])
    config = config_from_dict(config_class, manifest["config"])
    algorithm = algorithm_class(config, checkpoint_problem(out))
    normalizer = ObsNormalizer.fit(data.observations)
    load_checkpoint(out, algorithm, TensorReplay(transition_arrays(data, normalizer), seed=0))
    module = ExportedPolicy(normalizer, algorithm.policy()).eval()
    states = data.observations[:50] * 3.0  # also off the data's range: normalization must be in the graph
    with torch.no_grad():
        expected = module(torch.as_tensor(states)).numpy()
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(["action"], {"state": states})
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # and through the agent loaders, as --agent DIR/model.onnx and via the manifest
    observations: list[Observation] = [{"state": s} for s in states]
    for loaded in (load_agent(str(out / "model.onnx")), load_exported(out)):
        policy = loaded.factory()
        assert is_batched(policy)
        np.testing.assert_allclose(policy.act_batch(observations), expected, rtol=1e-5, atol=1e-5)

