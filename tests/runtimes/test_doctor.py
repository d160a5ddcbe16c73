"""`vla-bench doctor`: where each benchmark runs, and what to do when it cannot."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vla_bench import benchmarks
from vla_bench.runtimes import doctor
from vla_bench.spec.errors import UserError


@pytest.fixture(autouse=True)
def user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLA_BENCH_RUNTIMES_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VLA_BENCH_CONFIG_DIR", str(tmp_path / "config"))


def test_each_benchmark_gets_a_status(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(benchmarks.RUNTIMES, "mujoco", "runtime_fakes:UNSATISFIABLE")
    monkeypatch.setitem(benchmarks.RUNTIMES, "metaworld", "runtime_fakes:HOPPER_RUNTIME")
    found = {s.benchmark: s for s in doctor.statuses()}
    assert set(found) == set(benchmarks.ADAPTERS) | set(benchmarks.RUNTIMES)  # and policy runtimes (lerobot)
    assert (found["d4rl"].runtime, found["d4rl"].python, found["d4rl"].ok) == ("main", sys.executable, True)
    assert found["metaworld"].ok and "runtime 'hopper-test'" in found["metaworld"].detail
    missing = found["mujoco"]
    assert (missing.runtime, missing.ok) == ("missing", False)
    assert "mujoco==0.0.1 is not satisfied" in missing.detail and "`vla-bench setup mujoco`" in missing.detail


def test_one_benchmark_is_checked_in_depth_and_a_typo_is_named() -> None:
    (status,) = doctor.statuses("mujoco")
    assert status.ok
    with pytest.raises(UserError, match="unknown benchmark 'mujocco'"):
        doctor.statuses("mujocco")


def test_the_renderer_check_explains_a_backend_that_cannot_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUJOCO_GL", "glfw")
    monkeypatch.delenv("DISPLAY", raising=False)
    backend, works, detail = doctor.renderer_status()
    assert (backend, works) == ("glfw", False) and "MUJOCO_GL=egl" in detail


def test_installed_packages_are_read_without_importing_them() -> None:
    versions = doctor.installed_packages(("numpy", "no-such-vlab-package"))
    assert versions["numpy"] and versions["no-such-vlab-package"] is None
