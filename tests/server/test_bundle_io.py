"""Reading a bundle directory for `vla-bench submit` (and `eval --resume`): a broken episodes.jsonl is an error
naming the file, the line and the problem, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from leaderboard_testing import Bundles

from vla_bench.harness.bundle import BundleError, read_episodes
from vla_bench.server.bundle_io import read_bundle_document, training_csv, training_log_file
from vla_bench.spec.errors import UserError

BROKEN = {
    "not UTF-8": (b'{"task": "\xff\xfe"}', "not UTF-8 text"),
    "NaN literal": (b'{"task": "hop", "total_return": NaN}', "NaN is not valid JSON"),
    "Infinity literal": (b'{"task": "hop", "total_return": -Infinity}', "-Infinity is not valid JSON"),
}


def _broken_copy(bundles: Bundles, tmp_path: Path, line: bytes) -> Path:
    directory = tmp_path / "bundle"
    shutil.copytree(bundles.random, directory)
    episodes = directory / "episodes.jsonl"
    lines = episodes.read_bytes().split(b"\n")
    lines[2] = line  # the third line
    episodes.write_bytes(b"\n".join(lines))
    return directory


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_line_is_named_by_both_readers(bundles: Bundles, tmp_path: Path, case: str) -> None:
    line, phrase = BROKEN[case]
    directory = _broken_copy(bundles, tmp_path, line)
    with pytest.raises(UserError) as submitted:
        read_bundle_document(directory)
    with pytest.raises(BundleError) as resumed:
        read_episodes(directory / "episodes.jsonl")
    for error in (submitted.value, resumed.value):
        assert f"{directory / 'episodes.jsonl'}:3: " in str(error) and phrase in str(error)


def test_submit_of_a_broken_bundle_says_where_without_a_traceback(bundles: Bundles, tmp_path: Path) -> None:
    directory = _broken_copy(bundles, tmp_path, BROKEN["NaN literal"][0])
    done = subprocess.run([sys.executable, "-m", "vla_bench.cli", "submit", str(directory), "--server",
                           "http://127.0.0.1:9", "--token", "vlab_x"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "VLA_BENCH_TOKEN": ""})
    assert done.returncode == 2, done.stderr
    assert "episodes.jsonl:3: not a valid episode record: NaN is not valid JSON" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


# --- the training log of a bundled or exported agent ------------------------------------------------------------
def _export(directory: Path, sha256: str, log: str) -> Path:
    directory.mkdir(parents=True)
    manifest = {"format": "vla-bench-exported-policy/1", "model": {"file": "model.onnx", "sha256": sha256}}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    (directory / "train.csv").write_text(log)
    return directory


def test_a_bundled_agents_training_log_travels_with_its_bundle(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    _export(agents / "bc-hop", "ab" * 32, "step,round,expert_gap,loss\n100,0,nan,2.5\n200,1,0.5,2.1\n")
    agent = {"spec": "baseline:bc-hop", "sha256": "ab" * 32}
    assert training_log_file(agent, agents) == agents / "bc-hop" / "train.csv"
    # the trainers' "nan" (a measure not computed at that step) is sent as an empty cell
    assert training_csv(agents / "bc-hop" / "train.csv") == "step,round,expert_gap,loss\n100,0,,2.5\n200,1,0.5,2.1\n"
    assert training_log_file({**agent, "sha256": "cd" * 32}, agents) is None  # another model: not its log
    assert training_log_file({"spec": "baseline:../bc-hop", "sha256": "ab" * 32}, agents) is None
    assert training_log_file({"spec": "baseline:random", "sha256": None}, agents) is None


def test_an_exported_agents_log_is_found_beside_its_model_and_a_bad_one_is_left_out(tmp_path: Path) -> None:
    export = _export(tmp_path / "run" / "export", "ef" * 32, "step,loss\n1,0.5\n")
    assert training_log_file({"spec": str(export / "model.onnx"), "sha256": "ef" * 32}, tmp_path) == \
        export / "train.csv"
    (export / "train.csv").write_text("step,loss\n1,inf\n")  # the server would refuse it: not sent
    assert training_log_file({"spec": str(export / "model.onnx"), "sha256": "ef" * 32}, tmp_path) is None


def test_the_committed_baselines_send_their_training_logs() -> None:
    results = Path(__file__).resolve().parents[2] / "results"
    document = read_bundle_document(results / "mujoco-hopper--baseline-bc-hopper-medium", agents_dir=results / "agents")
    log = document["training_log"]
    assert isinstance(log, dict) and isinstance(log["csv"], str)
    assert log["csv"].startswith("step,loss,action_mse,steps_per_s\n500,")
    assert "training_log" not in read_bundle_document(results / "mujoco-hopper--baseline-random",
                                                      agents_dir=results / "agents")
