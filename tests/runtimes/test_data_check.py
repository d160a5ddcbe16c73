"""What pip cannot install (LIBERO's assets, CALVIN's dataset) is checked by doctor and setup, and said plainly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from vla_bench.runtimes.data_check import calvin_dataset_problem, libero_assets_problem


def test_calvin_dataset_is_checked(tmp_path: Path) -> None:
    assert "set VLA_BENCH_CALVIN_DATASET to the dataset folder" in (calvin_dataset_problem({}) or "")
    wrong = calvin_dataset_problem({"VLA_BENCH_CALVIN_DATASET": str(tmp_path)})
    assert wrong is not None and "holds no CALVIN validation folder" in wrong
    config = tmp_path / "task_D_D" / "validation" / ".hydra"
    config.mkdir(parents=True)
    (config / "merged_config.yaml").write_text("{}\n")
    assert calvin_dataset_problem({"VLA_BENCH_CALVIN_DATASET": str(tmp_path / "task_D_D")}) is None
    assert calvin_dataset_problem({"VLA_BENCH_CALVIN_DATASET": "calvin_env:scene_D"}) is None


def test_libero_assets_problem_is_one_readable_message_not_a_traceback() -> None:
    # this interpreter has no libero: the probe says how to get the runtime, in words
    problem = libero_assets_problem(sys.executable, dict(os.environ))
    assert problem is not None and "vla-bench setup libero" in problem
    assert "Traceback" not in problem and "File \"" not in problem


def test_doctor_is_readable_at_80_columns(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "80", "VLA_BENCH_RUNTIMES_DIR": str(tmp_path / "data"),
           "VLA_BENCH_CONFIG_DIR": str(tmp_path / "config")}
    env.pop("VLA_BENCH_CALVIN_DATASET", None)
    done = subprocess.run([sys.executable, "-m", "vla_bench.cli", "doctor"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    text = " ".join(done.stdout.split())
    assert "calvin: no interpreter is set up for it. Fix: `vla-bench setup calvin`" in text
    assert "libero: no interpreter is set up for it." in text and "LIBERO's scene/object assets" in text
    assert "ASSET_PACKAGES" not in text  # no code constants in what a user reads
