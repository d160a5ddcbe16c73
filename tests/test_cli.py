"""The `vla-bench` command line, run as a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vla_bench.harness.sequential_run import decision_line

TESTS = Path(__file__).resolve().parent


def vla_bench(*args: str, cwd: Path | None = None, umask: int | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, with stdout and stderr piped (so not a terminal)."""
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    full_env = {**os.environ, "PYTHONPATH": path, "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "vla_bench.cli", *args], capture_output=True, text=True,
                          timeout=300, env=full_env, cwd=cwd, umask=-1 if umask is None else umask)


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
    assert result["overall"]["a"]["mean"] is not None and result["a_agent"] == "baseline:random"
    markdown = vla_bench("compare", str(tmp_path / "run"), str(tmp_path / "zero"), "--format", "markdown")
    assert markdown.returncode == 0, markdown.stderr
    assert markdown.stdout.startswith("### mujoco/hopper@v1 (normalized score): A = baseline:random, B = baseline:zero")
    assert "| all tasks | 50 |" in markdown.stdout and f"**Verdict:** {result['verdict']}" in markdown.stdout
    table = vla_bench("compare", str(tmp_path / "run"), str(tmp_path / "zero"))
    assert f"verdict: {result['verdict']}" in table.stdout
    bad = vla_bench("compare", str(tmp_path / "run"), str(tmp_path / "zero"), "--format", "yaml")
    assert bad.returncode == 2 and "'yaml' is not one of" in bad.stderr


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


# ---- issue 15: failures, listing, progress, run folder, compare, small items (fake env: fast) ----

FAKE_PROTOCOL = """
id = "fake/cli@v1"
description = "a test protocol on a fake environment"
adapter = "vlab_fakes:FakeAdapter"
episodes_per_task = {episodes}
max_steps = 30
primary_metric = "success_rate"
[observation]
mode = "state"
[success]
kind = "info_flag"
key = "success"
"""
AGENTS = '''
import time
import numpy as np

class Shape:
    def reset(self, task): self.dim = task.action_dim
    def act(self, observation): return np.zeros(self.dim + 1, dtype=np.float32)

class Lin:
    def reset(self, task): self.dim = task.action_dim
    def act(self, observation): return np.tanh(np.resize(observation["state"], self.dim)).astype(np.float32)

class Slow(Lin):
    def act(self, observation):
        time.sleep(0.01)
        return super().act(observation)

def shape(): return Shape()
def linear(): return Lin()
def slow(): return Slow()
def needs_arg(x): return Lin()
'''


def _fake_setup(tmp_path: Path, tasks: int = 3, episodes: int = 4) -> Path:
    text = FAKE_PROTOCOL.format(episodes=episodes)
    text += "".join(f'[[tasks]]\nname = "t{i}"\nenv_id = "fake"\n[tasks.env_kwargs]\nsuccess_at = {1.0 + 0.3 * i}\n'
                    for i in range(tasks))
    (tmp_path / "fake.toml").write_text(text)
    (tmp_path / "myagents.py").write_text(AGENTS)
    return tmp_path / "fake.toml"


def test_an_agent_failing_every_episode_prints_a_failure_summary_and_exits_3(tmp_path: Path) -> None:
    protocol = _fake_setup(tmp_path)
    run = vla_bench("eval", "--agent", "myagents:shape", "--protocol", str(protocol), "--out", "bad", cwd=tmp_path)
    assert run.returncode == 3, run.stderr
    assert "12 of 12 episodes failed (100.0%)" in run.stderr
    assert "invalid_action × 12: policy returned an action of shape (3,); expected (2,)" in run.stderr
    assert "episodes: t0#0, t0#1" in run.stderr and "above --max-error-rate 0.1" in run.stderr
    assert "Traceback" not in run.stderr
    report = (tmp_path / "bad" / "report.md").read_text()
    assert "## Failures" in report and "| invalid_action | 12 |" in report
    tolerated = vla_bench("eval", "--agent", "myagents:shape", "--protocol", str(protocol), "--out", "bad2",
                          "--max-error-rate", "1", "--limit-episodes", "1", cwd=tmp_path)
    assert tolerated.returncode == 0, tolerated.stderr


def test_agent_load_errors_are_one_line_naming_file_and_line(tmp_path: Path) -> None:
    protocol = _fake_setup(tmp_path)
    (tmp_path / "broken.py").write_text("def make(:\n    pass\n")
    syntax = vla_bench("eval", "--agent", "broken:make", "--protocol", str(protocol), cwd=tmp_path)
    assert syntax.returncode == 2
    assert f"has a syntax error at {tmp_path / 'broken.py'}:1" in syntax.stderr
    assert "Traceback" not in syntax.stderr and len(syntax.stderr.strip().splitlines()) == 1
    signature = vla_bench("eval", "--agent", "myagents:needs_arg", "--protocol", str(protocol), cwd=tmp_path)
    assert signature.returncode == 2
    assert "must be callable with no arguments; its signature is (x)" in signature.stderr
    assert f"{tmp_path / 'myagents.py'}:" in signature.stderr and "Traceback" not in signature.stderr


def test_a_training_run_is_declared_in_the_bundle_and_kept_on_resume(tmp_path: Path) -> None:
    protocol = _fake_setup(tmp_path, tasks=1, episodes=2)
    run = vla_bench("eval", "--agent", "myagents:linear", "--protocol", str(protocol), "--out", "seeded",
                    "--training-group", "lin-v2", "--training-seed", "3", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "seeded" / "summary.json").read_text())
    assert summary["agent"]["training"] == {"group": "lin-v2", "seed": 3}
    other = vla_bench("eval", "--agent", "myagents:linear", "--protocol", str(protocol), "--out", "seeded",
                      "--resume", "--training-group", "lin-v2", "--training-seed", "4", cwd=tmp_path)
    assert other.returncode == 2 and "training run {'group': 'lin-v2', 'seed': 3}" in other.stderr
    half = vla_bench("eval", "--agent", "myagents:linear", "--protocol", str(protocol), "--training-seed", "1",
                     cwd=tmp_path)
    assert half.returncode == 2 and "--training-group and --training-seed go together" in half.stderr
    spaced = vla_bench("eval", "--agent", "myagents:linear", "--protocol", str(protocol), "--training-group",
                       "my method", "--training-seed", "1", cwd=tmp_path)
    assert spaced.returncode == 2 and "training group 'my method'" in spaced.stderr


def test_run_folder_report_plots_modes_and_plain_progress(tmp_path: Path) -> None:
    protocol = _fake_setup(tmp_path)
    env = {"VLA_BENCH_PROGRESS_INTERVAL": "0", "COLUMNS": "60"}
    run = vla_bench("eval", "--agent", "myagents:linear", "--protocol", str(protocol), "--out", "ok", cwd=tmp_path,
                    umask=0o022, env=env)
    assert run.returncode == 0, run.stderr
    progress = [line for line in run.stderr.splitlines() if "fake/cli@v1 · myagents:linear:" in line]
    assert progress[0].endswith("started 0/12 episodes (0%) · 0.00 ep/s · ETA – · 0 errors")
    assert any(" running 6/12 episodes (50%)" in line for line in progress)
    assert "finished 12/12 episodes (100%)" in progress[-1] and "\x1b[" not in run.stderr
    assert "no errors in 12 episodes" in run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("│ t")]
    assert len(rows) == 3  # on a 60-column "screen" still one line per task: no number broke onto a second line
    assert all("%" in row and "…" not in row for row in rows)
    folder = tmp_path / "ok"
    for path in [folder, *folder.rglob("*")]:
        expected = 0o755 if path.is_dir() else 0o644
        assert path.stat().st_mode & 0o777 == expected, path
    report = (folder / "report.md").read_text()
    assert report.startswith("### fake/cli@v1 · myagents:linear")
    assert "| t0 | 4 |" in report and "## Provenance" in report and "![tasks](plots/tasks.png)" in report
    for name in ("tasks", "returns", "lengths", "success_by_step"):
        assert (folder / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_list_is_scriptable(tmp_path: Path) -> None:
    hopper = vla_bench("list", "protocols", "hopper")
    assert hopper.returncode == 0, hopper.stderr
    ids = [line.split("\t")[0] for line in hopper.stdout.splitlines()]
    assert "mujoco/hopper@v1" in ids and "d4rl/hopper-medium@v1" in ids
    assert all("hopper" in i for i in ids) and "…" not in hopper.stdout
    globbed = vla_bench("list", "protocols", "mujoco/*@v1", "--json")
    entries = json.loads(globbed.stdout)
    assert {e["id"] for e in entries} >= {"mujoco/hopper@v1", "mujoco/walker2d@v1"}
    assert all(e["id"].startswith("mujoco/") and e["details"]["episodes_per_task"] > 0 for e in entries)
    metaworld = vla_bench("list", "protocols", "--benchmark", "metaworld")
    assert metaworld.stdout and all(line.startswith("metaworld/") for line in metaworld.stdout.splitlines())
    agents = vla_bench("list", "agents")
    lines = dict(line.split("\t", 1) for line in agents.stdout.splitlines())
    assert "PPO" in lines["baseline:ppo-hopper"] and "mujoco/hopper@v1" in lines["baseline:ppo-hopper"]
    assert "hopper-medium dataset" in lines["baseline:bc-hopper-medium"]
    assert "baseline:random" in lines
    unknown = vla_bench("list", "protocol")
    assert unknown.returncode == 2 and "Did you mean 'protocols'" in unknown.stderr


def test_version_flag_types_and_format_choices(tmp_path: Path) -> None:
    version = vla_bench("--version")
    assert version.returncode == 0 and version.stdout.startswith("vla-bench ")
    helped = vla_bench("eval", "--help")
    assert "<bool>" not in helped.stdout and "--no-resume" not in helped.stdout
    assert "table|markdown|json" in helped.stdout
    bad = vla_bench("report", str(tmp_path), "--format", "markdwn")
    assert bad.returncode == 2 and "markdwn" in bad.stderr


def test_ctrl_c_prints_the_resume_command(tmp_path: Path) -> None:
    protocol = _fake_setup(tmp_path, tasks=2, episodes=10)
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    env = dict(os.environ, PYTHONPATH=path, VLA_BENCH_PROGRESS_INTERVAL="0")
    # an ignored SIGINT is inherited: start the run as a terminal would, whatever this test process's disposition
    # is (some code in the suite leaves SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    process = subprocess.Popen([sys.executable, "-m", "vla_bench.cli", "eval", "--agent", "myagents:slow",
                                "--protocol", str(protocol), "--out", "run", "--envs-per-worker", "1"],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    signal.signal(signal.SIGINT, previous)
    assert process.stderr is not None
    for line in process.stderr:  # wait until episodes are finishing, then interrupt as Ctrl-C would
        if " running " in line:
            break
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 130, rest
    assert f"vla-bench eval --agent myagents:slow --protocol {protocol} --out run --resume" in rest
    resumed = vla_bench("eval", "--agent", "myagents:slow", "--protocol", str(protocol), "--out", "run", "--resume",
                        "--format", "json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["n_episodes_done"] == 20


@pytest.mark.slow  # several rounds of two evaluations (~15 s idle, more on a loaded machine)
def test_sequential_compare_stops_when_decided_and_says_it_is_a_decision(tmp_path: Path) -> None:
    protocol = _fake_setup(tmp_path, tasks=1, episodes=60)
    text = protocol.read_text().replace("success_at = 1.0", "success_at = 2.5")
    protocol.write_text(text)
    (tmp_path / "myagents.py").write_text(AGENTS + '''
class Push(Lin):
    def act(self, observation): return np.sign(np.resize(observation["state"], self.dim)).astype(np.float32)

class Still(Lin):
    def act(self, observation): return np.zeros(self.dim, dtype=np.float32)

def push(): return Push()
def still(): return Still()
''')
    run = vla_bench("compare", "--sequential", "myagents:still", "myagents:push", "--protocol", str(protocol),
                    "--out", "seq", "--format", "json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["kind"] == "sequential decision (not a score)" and result["decision"] == "B better"
    assert result["e_value"] >= 20 and result["pairs_used"] < result["max_pairs"] == 60
    assert result["pairs_run"] < 60  # it stopped running episodes once decided
    summary = json.loads((tmp_path / "seq" / "b" / "summary.json").read_text())
    assert summary["official"] is False  # the runs behind a decision are never an official score
    assert "e-value" in run.stderr
    assert decision_line(result).startswith(f"decision: myagents:push (B better) after {result['pairs_used']} of 60")
    missing = vla_bench("compare", "--sequential", "myagents:still", "myagents:push", cwd=tmp_path)
    assert missing.returncode == 2 and "--sequential needs --protocol" in missing.stderr
