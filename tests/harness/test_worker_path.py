"""Env workers do not get the user's working directory on sys.path (it can shadow simulator packages)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from vla_bench.harness.worker_path import agent_module_dir, worker_sys_path


def test_the_working_directory_is_dropped_unless_the_worker_runs_the_agent_from_it(tmp_path: Path) -> None:
    (tmp_path / "mypolicy.py").write_text("def make(): ...\n")
    paths = ["", str(tmp_path), "/opt/tests", "/usr/lib/python3.11"]
    assert worker_sys_path(paths, cwd=str(tmp_path)) == ["/opt/tests", "/usr/lib/python3.11"]
    assert worker_sys_path(paths, agent_spec="baseline:random", cwd=str(tmp_path)) == ["/opt/tests",
                                                                                        "/usr/lib/python3.11"]
    # the agent runs in the worker and is imported from the working directory: that one entry stays
    kept = worker_sys_path(paths, agent_spec="mypolicy:make", cwd=str(tmp_path))
    assert kept == ["", "/opt/tests", "/usr/lib/python3.11"]
    assert agent_module_dir("mypolicy:make", [str(tmp_path)]) == str(tmp_path)
    assert agent_module_dir("elsewhere:make", [str(tmp_path)]) is None


def test_a_checkout_folder_in_the_working_directory_would_shadow_the_installed_package(tmp_path: Path) -> None:
    # the failure the filter prevents: a folder without __init__.py in the working directory becomes a namespace
    # package when the working directory is on sys.path, and an editable install served by a meta-path finder
    # (as setuptools' editable installs are, e.g. calvin_env's) is never asked: PathFinder answers first
    (tmp_path / "shadowed").mkdir()
    site = tmp_path / "site"
    (site / "pkg").mkdir(parents=True)
    finder = site / "finder.py"
    finder.write_text(
        "import importlib.abc, importlib.util, sys\n"
        "class F(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'shadowed':\n"
        "            return importlib.util.spec_from_file_location(name, " + repr(str(site / "real.py")) + ")\n"
        "sys.meta_path.append(F())\n")
    (site / "real.py").write_text("WHERE = 'installed'\n")
    code = "import finder, shadowed; print(getattr(shadowed, 'WHERE', 'namespace'))"
    env = {**os.environ, "PYTHONPATH": str(site)}
    with_cwd = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, ''); {code}"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, check=True)
    assert with_cwd.stdout.strip() == "namespace"  # the checkout folder shadowed the installed module
    cleaned = worker_sys_path(["", str(site)], cwd=str(tmp_path))
    without = subprocess.run([sys.executable, "-P", "-c", f"import sys; sys.path[:] = {cleaned!r} + sys.path; "
                              f"{code}"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert without.stdout.strip() == "installed"
