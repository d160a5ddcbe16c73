"""`vla-bench setup` builds a real venv, marks it complete, skips a complete one and rebuilds a half-built one.

pip runs for real, with PIP_NO_INDEX=1: the one requirement is met inside the new venv, so nothing is
downloaded (a build of a real benchmark runtime is measured by hand; see the runtimes part of the README).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vla_bench.runtimes import store
from vla_bench.runtimes.build import build_runtime
from vla_bench.runtimes.check import check_runtime
from vla_bench.spec.runtime import RuntimeSpec

SPEC = RuntimeSpec(name="pip-only", requirements=("pip>=20",), python=">=3.9", imports=("json",))


@pytest.mark.slow
def test_setup_builds_marks_skips_and_rebuilds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLA_BENCH_RUNTIMES_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    said: list[str] = []
    built = build_runtime(SPEC, echo=said.append, worker_requirements=())
    assert built.kind == "built" and built.directory == store.runtime_dir(SPEC)
    assert Path(built.python).exists() and built.python != ""
    assert check_runtime(SPEC, built.python).ok
    marker = json.loads((store.runtime_dir(SPEC) / store.COMPLETE_MARKER).read_text())
    assert marker["key"] == SPEC.key() and marker["size_bytes"] > 1_000_000 and marker["install_seconds"] > 0
    assert any(line.startswith("[2/3] installing 1 requirements") for line in said)
    assert any(line.startswith("built runtime 'pip-only' in") and "MB" in line for line in said)

    said.clear()
    again = build_runtime(SPEC, echo=said.append, worker_requirements=())
    assert again.kind == "already-built" and "already built" in said[0]

    (store.runtime_dir(SPEC) / store.COMPLETE_MARKER).unlink()  # as if the build had been interrupted
    assert store.built_marker(SPEC) is None
    said.clear()
    rebuilt = build_runtime(SPEC, echo=said.append, worker_requirements=())
    assert rebuilt.kind == "built" and "removing a half-built runtime" in said[0]
    assert store.built_marker(SPEC) is not None
