"""The documented command for a CALVIN interpreter resolves to one consistent set of packages (numpy < 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

from vla_bench.benchmarks.calvin.runtime import RUNTIME


def test_the_documented_command_is_in_the_runtime_text_and_prints_the_requirements() -> None:
    assert "calvin-venv/bin/pip install $(vla-bench setup calvin --print-requirements)" in RUNTIME.user_provided
    done = subprocess.run([sys.executable, "-m", "vla_bench.cli", "setup", "calvin", "--print-requirements"],
                          capture_output=True, text=True, timeout=120, check=True)
    lines = done.stdout.splitlines()
    assert "pybullet==3.2.7" in lines and "opencv-python-headless<4.12" in lines and "numpy<2" in lines


@pytest.mark.slow  # asks PyPI to resolve the whole set (a few minutes, network to PyPI)
def test_pip_resolves_the_calvin_requirements_without_conflict(tmp_path: Path) -> None:
    requirements = subprocess.run([sys.executable, "-m", "vla_bench.cli", "setup", "calvin", "--print-requirements"],
                                  capture_output=True, text=True, timeout=120, check=True).stdout.split()
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                    "--report", str(report), *requirements], check=True, timeout=900)
    chosen = {i["metadata"]["name"].lower(): Version(i["metadata"]["version"])
              for i in json.loads(report.read_text())["install"]}
    assert chosen["numpy"] < Version("2") and chosen["pybullet"] == Version("3.2.7")
    assert chosen["opencv-python-headless"] < Version("4.12")
