"""`vla-bench quickstart` as a new user meets it: a busy port, the bundled reference runs, the next steps."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from leaderboard_testing import free_port

from vla_bench.server.quickstart import check_port_free

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, results: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VLA_BENCH_DATABASE_URL": f"sqlite:///{tmp_path / 'board.sqlite3'}",
           "VLA_BENCH_RESULTS_DIR": str(results), "VLA_BENCH_TOKEN": "", "XDG_DATA_HOME": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-m", "vla_bench.cli", "quickstart", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_busy_port_fails_at_once_with_the_fix(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        run = _run(tmp_path, tmp_path, "--port", str(port), "--exit")
        elapsed = time.monotonic() - started
    assert run.returncode == 2
    assert f"port {port} on 127.0.0.1 is not free" in run.stderr and "pass a free port, e.g. --port " in run.stderr
    assert "Errno" not in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "data").exists()  # nothing was evaluated before the port was checked
    assert elapsed < 60  # no evaluation ran (a loose bound: start-up only)


def test_check_port_free_accepts_a_free_port() -> None:
    check_port_free("127.0.0.1", free_port())


@pytest.mark.slow  # a full evaluation and a server start (~30 s on a loaded machine)
def test_the_users_run_is_its_own_row_beside_the_reference_runs_and_next_steps_follow(tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(ROOT / "results" / "mujoco-hopper--baseline-random", results / "mujoco-hopper--baseline-random")
    port = free_port()
    run = _run(tmp_path, results, "--port", str(port), "--exit")
    assert run.returncode == 0, run.stderr
    assert "(already there)" not in run.stdout
    submission = next(line.split(": ", 1)[1].strip() for line in run.stdout.splitlines()
                      if line.startswith("submission:"))
    assert submission.startswith(f"http://localhost:{port}/submissions/")
    for step in ("next steps:", "vla-bench eval --agent", "vla-bench report", "vla-bench compare",
                 "vla-bench server create-token", f"vla-bench submit RUN --server http://localhost:{port}"):
        assert step in run.stderr
    # the reference run and the user's are two rows: the database holds both
    board = tmp_path / "board.sqlite3"
    assert board.is_file()
    with sqlite3.connect(board) as db:
        agents = sorted(row[0] for row in db.execute("SELECT agent_name FROM submissions"))
    assert agents == ["baseline:random", "baseline:zero"]
