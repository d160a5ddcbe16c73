"""`vla-bench eval` refuses bad option values before any work starts, with a message that says what is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "vla_bench.cli"]


def _eval(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "eval", "--agent", "baseline:random", "--out", str(tmp_path / "run"), *options],
                          capture_output=True, text=True, timeout=120)


def test_a_missing_protocol_file_is_file_not_found(tmp_path: Path) -> None:
    done = _eval(tmp_path, "--protocol", str(tmp_path / "missing.toml"))
    assert done.returncode == 2
    assert f"protocol file {tmp_path / 'missing.toml'}: file not found" in done.stderr
    assert "unknown protocol" not in done.stderr and not (tmp_path / "run").exists()


def test_a_negative_policy_timeout_is_refused(tmp_path: Path) -> None:
    done = _eval(tmp_path, "--protocol", "mujoco/hopper@v1", "--policy-timeout", "-1")
    assert done.returncode == 2 and "--policy-timeout" in done.stderr and not (tmp_path / "run").exists()
