"""SIGKILL a running `vla-bench eval`, rerun it with --resume: exactly the missing episodes are run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

PROTOCOL_TOML = """
id = "fake/slow@v1"
description = "fake environment slowed down so that a run can be killed half-way"
adapter = "vlab_fakes:FakeAdapter"
episodes_per_task = 12
max_steps = 30
primary_metric = "mean_return"

[observation]
mode = "state"

[success]
kind = "none"

[[tasks]]
name = "a"
env_id = "fake"
env_kwargs = { step_sleep = 0.01 }

[[tasks]]
name = "b"
env_id = "fake"
env_kwargs = { step_sleep = 0.01 }
"""


def _eval(protocol: Path, out: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    command = [sys.executable, "-m", "vla_bench.cli", "eval", "--agent", "vlab_fakes:LinearPolicy",
               "--protocol", str(protocol), "--out", str(out), "--workers", "2", *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_sigkill_then_resume_finishes_exactly_the_missing_episodes(tmp_path: Path) -> None:
    protocol = tmp_path / "slow.toml"
    protocol.write_text(PROTOCOL_TOML)
    out = tmp_path / "run"
    episodes = out / "episodes.jsonl"

    run = _eval(protocol, out)
    deadline = time.monotonic() + 60
    while len(_lines(episodes)) < 6:
        assert run.poll() is None, run.stderr.read().decode() if run.stderr else ""
        assert time.monotonic() < deadline, "the run produced no episodes"
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait()
    before = [json.loads(line) for line in _lines(episodes) if line.endswith("}")]
    assert 6 <= len(before) < 24, "the kill must land half-way for this test to mean anything"

    resumed = _eval(protocol, out, "--resume")
    _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr.decode()
    after = [json.loads(line) for line in _lines(episodes)]
    keys = [(r["task"], r["episode_index"]) for r in after]
    assert len(keys) == len(set(keys)) == 24
    assert after[: len(before)] == before  # what was finished before the kill is kept as it was

    fresh = _eval(protocol, tmp_path / "fresh")
    assert fresh.wait(timeout=120) == 0
    def outcome(r: dict) -> tuple:
        return tuple(sorted((k, v) for k, v in r.items() if k != "timings"))
    fresh_records = [json.loads(line) for line in _lines(tmp_path / "fresh" / "episodes.jsonl")]
    assert sorted(map(outcome, after)) == sorted(map(outcome, fresh_records))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "complete"
    assert summary["n_episodes_done"] == 24


def test_resume_refuses_a_different_agent(tmp_path: Path) -> None:
    protocol = tmp_path / "slow.toml"
    protocol.write_text(PROTOCOL_TOML.replace("step_sleep = 0.01", "step_sleep = 0.0"))
    out = tmp_path / "run"
    assert _eval(protocol, out, "--limit-episodes", "1").wait(timeout=60) == 0
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    other = subprocess.run([sys.executable, "-m", "vla_bench.cli", "eval", "--agent", "baseline:zero", "--protocol",
                            str(protocol), "--out", str(out), "--resume", "--limit-episodes", "1"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert other.returncode == 2
    assert "was run with agent 'vlab_fakes:LinearPolicy'" in other.stderr


@pytest.mark.parametrize("extra", [[], ["--resume"]])
def test_an_existing_run_is_never_overwritten(tmp_path: Path, extra: list[str]) -> None:
    protocol = tmp_path / "slow.toml"
    protocol.write_text(PROTOCOL_TOML.replace("step_sleep = 0.01", "step_sleep = 0.0"))
    out = tmp_path / "run"
    assert _eval(protocol, out, "--limit-episodes", "1").wait(timeout=60) == 0
    before = (out / "episodes.jsonl").read_text()
    again = _eval(protocol, out, "--limit-episodes", "1", *extra)
    _, stderr = again.communicate(timeout=60)
    if extra:
        assert again.returncode == 0  # nothing missing: resume finishes at once
    else:
        assert again.returncode == 2
        assert "already holds a run" in stderr.decode()
    assert (out / "episodes.jsonl").read_text() == before
