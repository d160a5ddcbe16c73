"""satisfied(): an interpreter checked against a runtime's python version and pinned requirements."""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

import pytest

from vla_bench.runtimes.check import check_runtime, satisfied
from vla_bench.spec.errors import UserError
from vla_bench.spec.runtime import RuntimeSpec

NUMPY = metadata.version("numpy")


def spec(*requirements: str, python: str = ">=3.9", imports: tuple[str, ...] = ()) -> RuntimeSpec:
    return RuntimeSpec(name="t", requirements=requirements, python=python, imports=imports)


def test_an_interpreter_with_the_pinned_versions_satisfies_the_runtime() -> None:
    assert satisfied(spec(f"numpy=={NUMPY}", "msgpack>=1.0", "pydantic>=2"), sys.executable)


def test_a_wrong_version_is_named_with_the_installed_one() -> None:
    check = check_runtime(spec("numpy<1.0", "msgpack>=1.0"))
    assert not check.ok
    assert check.problems == (f"numpy<1.0 is not satisfied (numpy {NUMPY} is installed)",)


def test_a_missing_distribution_and_a_wrong_python_are_named() -> None:
    check = check_runtime(spec("no-such-distribution-vlab==1.0", python="<3.0"))
    assert check.problems[0].startswith("python 3.") and "does not satisfy <3.0" in check.problems[0]
    assert "no-such-distribution-vlab==1.0 is not installed" in check.problems
    assert not satisfied(spec(python=">=4"))


def test_a_requirement_whose_marker_excludes_this_interpreter_is_skipped() -> None:
    assert satisfied(spec('no-such-distribution-vlab==1.0; python_version < "3.0"'))


def test_imports_are_checked_when_asked() -> None:
    runtime = spec(imports=("json", "no_such_module_vlab"))
    assert satisfied(runtime)  # imports are not checked by default
    check = check_runtime(runtime, check_imports=True)
    assert check.problems == ("`import no_such_module_vlab` fails: ModuleNotFoundError: No module named "
                              "'no_such_module_vlab'",)


def test_an_interpreter_that_does_not_run_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    check = check_runtime(spec("numpy"), str(tmp_path / "no-python"))
    assert not check.ok and check.python_version is None
    assert "does not run" in check.problems[0]


def test_an_invalid_requirement_is_a_user_error() -> None:
    with pytest.raises(UserError, match=r"invalid requirement 'numpy>>1'"):
        check_runtime(spec("numpy>>1"))


def test_long_problem_lists_are_summarized() -> None:
    check = check_runtime(spec(*(f"no-such-vlab-{i}==1" for i in range(6))))
    assert check.summary(limit=2).endswith("; and 4 more")


def test_the_requirements_of_a_requested_extra_are_checked_too(tmp_path: Path) -> None:
    # a distribution whose `extra` needs a package that is not installed (metadata only, no code)
    site = tmp_path / "site"
    info = site / "vlab_extra_probe-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vlab-extra-probe\nVersion: 1.0\n"
                                   "Provides-Extra: sim\nRequires-Dist: no-such-vlab-dependency>=2; extra == 'sim'\n",
                                   encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(site)}
    assert satisfied(spec("vlab-extra-probe==1.0"), env=env)
    check = check_runtime(spec("vlab-extra-probe[sim]==1.0"), env=env)
    assert check.problems == ("no-such-vlab-dependency>=2 is not installed",)


def test_a_module_that_prints_while_imported_does_not_confuse_the_probe(tmp_path: Path) -> None:
    from vla_bench.runtimes.check import probe

    (tmp_path / "chatty_module.py").write_text('print("Do you want to specify a custom path? (Y/N): ", end="")\n')
    found = probe(sys.executable, ["numpy"], ["chatty_module"], env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert found["imports"] == {"chatty_module": None}
    assert found["versions"]["numpy"] == metadata.version("numpy")
