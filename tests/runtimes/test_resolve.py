"""Which interpreter a benchmark's workers use: adopted, then built, then this one if it satisfies, else an error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from runtime_fakes import HOPPER_RUNTIME, UNSATISFIABLE, second_interpreter

from vla_bench import benchmarks
from vla_bench.runtimes import store
from vla_bench.runtimes.build import setup
from vla_bench.runtimes.registry import runtime_spec
from vla_bench.runtimes.resolve import ADOPTED, BUILT, MAIN, MISSING, require, resolve
from vla_bench.spec.errors import UserError


@pytest.fixture(autouse=True)
def user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLA_BENCH_RUNTIMES_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VLA_BENCH_CONFIG_DIR", str(tmp_path / "config"))


def register(monkeypatch: pytest.MonkeyPatch, attr: str) -> None:
    monkeypatch.setitem(benchmarks.RUNTIMES, "mujoco", f"runtime_fakes:{attr}")


def test_a_benchmark_without_a_runtime_runs_in_this_interpreter() -> None:
    resolution = resolve("mujoco")
    assert (resolution.kind, resolution.python, resolution.isolated) == (MAIN, sys.executable, False)
    assert resolve("vlab_fakes:FakeAdapter").kind == MAIN  # a plugged-in adapter path


def test_an_unknown_benchmark_or_a_broken_entry_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UserError, match="unknown benchmark 'mujocoo'"):
        resolve("mujocoo")
    monkeypatch.setitem(benchmarks.RUNTIMES, "mujoco", "runtime_fakes:NOPE")
    with pytest.raises(UserError, match="registered as 'runtime_fakes:NOPE', which does not load"):
        runtime_spec("mujoco")


def test_a_runtime_this_interpreter_satisfies_runs_here(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, "HOPPER_RUNTIME")
    resolution = require("mujoco")
    assert resolution.kind == MAIN and resolution.spec == HOPPER_RUNTIME
    assert resolution.worker_env() == {"VLA_BENCH_TEST_RUNTIME": sys.prefix}


def test_a_missing_runtime_says_how_to_build_or_adopt_one(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, "UNSATISFIABLE")
    assert resolve("mujoco").kind == MISSING
    with pytest.raises(UserError) as caught:
        require("mujoco")
    message = str(caught.value)
    assert "mujoco==0.0.1 is not satisfied (mujoco 3.3.0 is installed)" in message
    assert "`vla-bench setup mujoco`" in message and "--python PATH" in message
    assert "nothing, really" in message  # what the user must bring


def test_adopting_a_second_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, "HOPPER_RUNTIME")
    python = second_interpreter(tmp_path / "venv")
    said: list[str] = []
    result = setup("mujoco", python=str(python), echo=said.append)
    assert result.kind == "adopted" and result.python == str(python)
    assert any("now uses" in line for line in said)
    resolution = require("mujoco")
    assert (resolution.kind, resolution.python, resolution.isolated) == (ADOPTED, str(python), True)
    assert resolution.worker_env() == {"VLA_BENCH_TEST_RUNTIME": str(tmp_path / "venv")}
    setup("mujoco", forget=True, echo=said.append)
    assert resolve("mujoco").kind == MAIN


def test_an_interpreter_that_lacks_requirements_is_refused_unless_forced(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, "UNSATISFIABLE")
    python = second_interpreter(tmp_path / "venv")
    with pytest.raises(UserError, match=r"(?s)does not satisfy runtime 'never-test'.*mujoco==0.0.1.*--force"):
        setup("mujoco", python=str(python), echo=lambda _: None)
    assert store.adopted("never-test") is None
    result = setup("mujoco", python=str(python), force=True, echo=lambda _: None)
    assert result.check is not None and not result.check.ok
    assert resolve("mujoco").kind == ADOPTED
    with pytest.raises(UserError, match="no such file"):
        setup("mujoco", python=str(tmp_path / "nope" / "python"), echo=lambda _: None)


def test_an_adopted_interpreter_that_disappeared_is_a_clear_error(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, "HOPPER_RUNTIME")
    store.record_adopted(store.Adopted("hopper-test", str(tmp_path / "gone" / "python"), HOPPER_RUNTIME.key(), ()))
    with pytest.raises(UserError, match=r"no longer exists.*--python PATH.*--forget"):
        resolve("mujoco")


def test_a_built_runtime_is_used_only_when_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, "UNSATISFIABLE")
    directory = store.runtime_dir(UNSATISFIABLE)
    assert directory == tmp_path / "data" / f"never-test-{UNSATISFIABLE.key()}"
    python = store.venv_python(directory)
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    assert resolve("mujoco").kind == MISSING  # half-built: no completion marker
    store.write_marker(UNSATISFIABLE, {"python": str(python)})
    resolution = resolve("mujoco")
    assert (resolution.kind, resolution.python, resolution.directory) == (BUILT, str(python), directory)


def test_setup_of_a_benchmark_without_a_runtime_has_nothing_to_do() -> None:
    said: list[str] = []
    assert setup("mujoco", echo=said.append).kind == "main"
    assert "runs in the main interpreter" in said[0]
    with pytest.raises(UserError, match="declares no runtime"):
        setup("mujoco", python=sys.executable, echo=said.append)
