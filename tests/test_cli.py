"""The `vla-bench` command line, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def vla_bench(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(TESTS), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "vla_bench.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env, cwd=cwd)


def test_eval_writes_a_bundle_and_prints_a_table_with_intervals(tmp_path: Path) -> None:
    run = vla_bench("eval", "--agent", "baseline:random", "--protocol", "mujoco/hopper@v1", "--out",
                    str(tmp_path / "run"))
    assert run.returncode == 0, run.stderr
    assert "mujoco/hopper@v1 · baseline:random" in run.stdout
    assert "normalized score: mean" in run.stdout and "IQM" in run.stdout
    assert "[" in run.stdout  # intervals are printed
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "complete"
    assert summary["n_episodes_done"] == 50
    assert len((tmp_path / "run" / "episodes.jsonl").read_text().splitlines()) == 50

    report = vla_bench("report", str(tmp_path / "run"), "--format", "markdown")
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith("### mujoco/hopper@v1 · baseline:random")
    assert "| hopper | 50 |" in report.stdout

    other = vla_bench("eval", "--agent", "baseline:zero", "--protocol", "mujoco/hopper@v1", "--out",
                      str(tmp_path / "zero"), "--format", "json")
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout)["agent"]["name"] == "baseline:zero"
    compare = vla_bench("compare", str(tmp_path / "run"), str(tmp_path / "zero"), "--format", "json")
    assert compare.returncode == 0, compare.stderr
    result = json.loads(compare.stdout)
    assert result["overall"]["n_pairs"] == 50
    assert result["only_in_a"] == result["only_in_b"] == 0


def test_list_shows_benchmarks_protocols_and_agents() -> None:
    listing = vla_bench("list")
    assert listing.returncode == 0, listing.stderr
    for expected in ("mujoco", "pandapickcube", "mujoco/hopper-pixels@v1", "baseline:random"):
        assert expected in listing.stdout


def test_user_errors_are_one_clear_line_with_exit_code_2(tmp_path: Path) -> None:
    typo = vla_bench("eval", "--agent", "baseline:random", "--protocol", "mujoco/hoper@v1")
    assert typo.returncode == 2
    assert "Did you mean 'mujoco/hopper@v1'" in typo.stderr
    assert "Traceback" not in typo.stderr
    agent = vla_bench("eval", "--agent", "no_such_module:make", "--protocol", "mujoco/hopper@v1",
                      "--out", str(tmp_path / "x"))
    assert agent.returncode == 2
    assert "cannot import the agent's module 'no_such_module'" in agent.stderr
    missing = vla_bench("report", str(tmp_path))
    assert missing.returncode == 2
    assert "summary.json is missing" in missing.stderr
