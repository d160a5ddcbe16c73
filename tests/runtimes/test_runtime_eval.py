"""`vla-bench eval` of a real protocol whose benchmark declares a runtime: its env workers run in the adopted
interpreter (recorded in the bundle), the orchestrator never imports the simulator, and a missing runtime
stops the run before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runtime_fakes import second_interpreter, vla_bench_with_runtimes


@pytest.fixture
def user_dirs(tmp_path: Path) -> dict[str, str]:
    return {"VLA_BENCH_RUNTIMES_DIR": str(tmp_path / "data"), "VLA_BENCH_CONFIG_DIR": str(tmp_path / "config")}


def test_eval_runs_its_workers_in_the_adopted_interpreter(tmp_path: Path, user_dirs: dict[str, str]) -> None:
    python = second_interpreter(tmp_path / "venv")
    runtimes = {"mujoco": "runtime_fakes:HOPPER_RUNTIME"}
    modules = tmp_path / "modules.json"
    adopt = vla_bench_with_runtimes(runtimes, modules, "setup", "mujoco", "--python", str(python), env=user_dirs)
    assert adopt.returncode == 0, adopt.stderr
    assert "now uses" in adopt.stderr
    assert json.loads((tmp_path / "config" / "runtimes.json").read_text())["hopper-test"]["python"] == str(python)

    out = tmp_path / "run"
    run = vla_bench_with_runtimes(runtimes, modules, "eval", "--agent", "baseline:random", "--protocol",
                                  "mujoco/hopper@v1", "--limit-episodes", "3", "--envs-per-worker", "2",
                                  "--out", str(out), env=user_dirs)
    assert run.returncode == 0, run.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["runtime"] == {"kind": "adopted", "python": str(python)}
    worker = summary["provenance"]["simulator"]["env_worker"]
    assert worker["python"] == str(python)  # the worker's own sys.executable
    assert worker["python"] != summary["provenance"]["command"][0]
    assert summary["provenance"]["simulator"]["mujoco"] == "3.3.0"  # the adapter described itself in the worker
    records = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(r["error"] is None and r["length"] > 0 for r in records)
    assert json.loads(modules.read_text()) == []  # the orchestrator never imported mujoco or gymnasium

    doctor = vla_bench_with_runtimes(runtimes, modules, "doctor", "mujoco", env=user_dirs)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "adopted" in doctor.stdout and "renderer: MUJOCO_GL=" in doctor.stdout


def test_eval_without_its_runtime_stops_with_the_fix(tmp_path: Path, user_dirs: dict[str, str]) -> None:
    out = tmp_path / "run"
    run = vla_bench_with_runtimes({"mujoco": "runtime_fakes:UNSATISFIABLE"}, tmp_path / "modules.json", "eval",
                                  "--agent", "baseline:random", "--protocol", "mujoco/hopper@v1",
                                  "--limit-episodes", "1", "--out", str(out), env=user_dirs)
    assert run.returncode == 2
    message = " ".join(run.stderr.split())
    assert "benchmark 'mujoco' needs its runtime 'never-test'" in message
    assert "mujoco==0.0.1 is not satisfied (mujoco 3.3.0 is installed)" in message
    assert "Run `vla-bench setup mujoco` to build it" in message
    assert not out.exists()
    doctor = vla_bench_with_runtimes({"mujoco": "runtime_fakes:UNSATISFIABLE"}, tmp_path / "modules.json",
                                     "doctor", env=user_dirs)
    assert doctor.returncode == 0 and "missing" in doctor.stdout
