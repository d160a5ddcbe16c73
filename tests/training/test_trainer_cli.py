"""`vla-bench train` from the command line: trains, exports, resumes, and refuses mismatched resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner
from vlab_fakes import LinearPolicy, fake_protocol

from vla_bench.spec.errors import UserError


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vla_bench.harness.collect import collect

    path = tmp_path_factory.mktemp("cli") / "linear.hdf5"
    collect(LinearPolicy, fake_protocol(episodes=4), path, episodes=5)
    return path


def test_train_command_exports_and_resumes(dataset: Path, tmp_path: Path) -> None:
    from vla_bench.cli.app import register_commands

    app = register_commands()
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["train", "td3+bc", "--dataset", str(dataset), "--steps", "40", "--out", str(out), "--log-every", "10",
            "--option", "hidden=32", "--option", "batch_size=16", "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["algo"] == "td3bc" and manifest["steps"] == 40 and manifest["config"]["hidden"] == 32
    longer = runner.invoke(app, [*args[:4], "--steps", "60", *args[6:]])
    assert longer.exit_code == 0, longer.output
    assert json.loads((out / "manifest.json").read_text())["steps"] == 60
    changed = runner.invoke(app, [*args[:-1], "--option", "alpha=1.0", "--no-progress"])
    assert isinstance(changed.exception, UserError) and "alpha" in str(changed.exception)
    missing = runner.invoke(app, ["train", "iql", "--out", str(tmp_path / "x")])
    assert isinstance(missing.exception, UserError) and "--dataset" in str(missing.exception)


def test_exported_model_loads_as_a_bundled_baseline(dataset: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import numpy as np

    from vla_bench.agents.loaders import load_agent
    from vla_bench.training.offline import TrainOptions, train_offline

    result = train_offline("bc", dataset, tmp_path / "run", protocol=None,
                           options=TrainOptions(steps=20, progress=False, options={"hidden": 16}))
    assert result.model is not None and result.manifest is not None
    bundled = tmp_path / "agents" / "bc-linear"
    bundled.mkdir(parents=True)
    shutil.copy(result.model, bundled / "model.onnx")
    shutil.copy(result.manifest, bundled / "manifest.json")
    monkeypatch.setenv("VLA_BENCH_AGENTS_DIR", str(tmp_path / "agents"))
    loaded = load_agent("baseline:bc-linear")
    assert loaded.kind == "baseline" and loaded.details["manifest"]["algo"] == "bc"
    assert loaded.factory().act({"state": np.zeros(3, dtype=np.float32)}).shape == (2,)
    (bundled / "model.onnx").write_bytes((bundled / "model.onnx").read_bytes() + b"\0")
    with pytest.raises(UserError, match="does not match its manifest"):
        load_agent("baseline:bc-linear")
