"""The orchestrator/env-worker version handshake, and workers that cannot start.

A worker running other vla_bench code (here: a copy of the package with one file edited, put first on the
worker's PYTHONPATH by a wrapper "interpreter") is refused at the handshake; the run stops naming both
versions and records nothing for the episodes it did not run (``--resume`` runs them once fixed). A runtime
that cannot even import the worker stops it naming the import error. A replacement worker that cannot start
leaves the run to the workers that still run.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from runtime_fakes import second_interpreter
from vlab_fakes import LinearPolicy, fake_protocol

import vla_bench
from vla_bench.agents.loaders import agent_from_object
from vla_bench.harness.handshake import WORKER_PROTOCOL, identity, mismatch
from vla_bench.harness.local_executor import ExecutorConfig, LocalExecutor, WorkerStartError
from vla_bench.protocols.plan import limited_plan
from vla_bench.spec import EpisodeRecord, Protocol

PACKAGE = Path(vla_bench.__file__).resolve().parent


def stale_copy(directory: Path) -> Path:
    """A copy of vla_bench whose worker-side source differs by one comment (an edited checkout)."""
    shutil.copytree(PACKAGE, directory / "vla_bench", ignore=shutil.ignore_patterns("__pycache__", "server", "web"))
    framing = directory / "vla_bench" / "harness" / "framing.py"
    framing.write_text(framing.read_text(encoding="utf-8") + "# edited after the runtime was set up\n",
                       encoding="utf-8")
    return directory


def wrapper(tmp_path: Path, stale: Path, *, good_launches: int) -> Path:
    """An "interpreter" whose first ``good_launches`` workers run our vla_bench and later ones the stale copy."""
    script = tmp_path / "python-wrapper"
    counter = tmp_path / "launches"
    script.write_text(f"""#!/bin/sh
n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}
if [ $n -gt {good_launches} ]; then export PYTHONPATH={stale}; fi
exec {sys.executable} "$@"
""", encoding="utf-8")
    script.chmod(0o755)
    return script


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from a folder without vla_bench in it: `python -m` puts the cwd first on a worker's sys.path."""
    monkeypatch.chdir(tmp_path)


def run(protocol: Protocol, config: ExecutorConfig) -> tuple[list[EpisodeRecord], Exception | None]:
    records: list[EpisodeRecord] = []
    executor = LocalExecutor(protocol, agent_from_object(LinearPolicy), config)
    try:
        executor.run(limited_plan(protocol, None), records.append)
    except WorkerStartError as exc:
        return records, exc
    return records, None


def test_identities_match_only_with_the_same_protocol_and_source() -> None:
    ours = identity()
    assert ours["worker_protocol"] == WORKER_PROTOCOL and ours["python"] == sys.executable
    assert mismatch(ours, dict(ours)) is None
    other = {**ours, "fingerprint": "0" * 16, "vla_bench": "0.0.1", "python": "/runtime/bin/python"}
    message = mismatch(ours, other)
    assert message is not None and "version mismatch" in message
    assert "/runtime/bin/python runs vla_bench 0.0.1" in message and f"source {ours['fingerprint']}" in message
    assert "no version" in (mismatch(ours, {"ok": True}) or "")
    assert "the orchestrator sent no version" in (mismatch(None, ours) or "")
    assert "worker protocol 1" in (mismatch(ours, {**ours, "worker_protocol": 1}) or "")


def test_a_worker_running_other_vla_bench_code_stops_the_run_naming_both(tmp_path: Path) -> None:
    stale = stale_copy(tmp_path / "stale")
    protocol = fake_protocol(episodes=2)
    records, stopped = run(protocol, ExecutorConfig(python=str(wrapper(tmp_path, stale, good_launches=0)),
                                                    workers=2, envs_per_worker=1))
    assert isinstance(stopped, WorkerStartError) and "env worker version mismatch" in str(stopped)
    assert f"source {identity()['fingerprint']}" in str(stopped)  # ours, and theirs differs
    assert "4 episodes not run yet" in str(stopped) and "--resume" in str(stopped)
    assert records == []  # a failed start is not a finished run: nothing is recorded, --resume runs them


def test_a_runtime_that_cannot_import_the_worker_names_the_import_error(tmp_path: Path) -> None:
    bare = second_interpreter(tmp_path / "bare")
    next(bare.parent.parent.glob("lib/python*/site-packages/vla_bench_test_env.pth")).unlink()  # no numpy now
    protocol = fake_protocol(episodes=1)
    records, stopped = run(protocol, ExecutorConfig(python=str(bare), isolated=True, workers=1))
    assert stopped is not None and "did not start" in str(stopped)
    assert "No module named 'numpy'" in str(stopped) and str(bare) in str(stopped)
    assert records == []


def test_a_replacement_that_cannot_start_leaves_the_run_to_the_other_workers(tmp_path: Path) -> None:
    stale = stale_copy(tmp_path / "stale")
    tasks: list[dict[str, Any]] = [
        {"name": "a", "env_id": "fake", "env_kwargs": {"fault": "exit", "fault_episode": 1, "fault_step": 2}},
        {"name": "b", "env_id": "fake"},
    ]
    protocol = fake_protocol(tasks=tasks, episodes=4)
    records, stopped = run(protocol, ExecutorConfig(python=str(wrapper(tmp_path, stale, good_launches=2)),
                                                    workers=2, envs_per_worker=1))
    assert stopped is None
    by_key = {r.key: r for r in records}
    assert len(by_key) == len(records) == 8
    assert by_key[("a", 1)].error_kind == "env_crash"
    assert all(r.error is None for key, r in by_key.items() if key != ("a", 1))


def test_when_the_last_worker_cannot_be_replaced_the_run_stops_with_the_rest_unrecorded(tmp_path: Path) -> None:
    stale = stale_copy(tmp_path / "stale")
    tasks = [{"name": "a", "env_id": "fake", "env_kwargs": {"fault": "exit", "fault_episode": 0, "fault_step": 2}}]
    protocol = fake_protocol(tasks=tasks, episodes=3)
    records, stopped = run(protocol, ExecutorConfig(python=str(wrapper(tmp_path, stale, good_launches=1)),
                                                    workers=1, envs_per_worker=1))
    assert stopped is not None and "version mismatch" in str(stopped)
    by_key = {r.key: r for r in records}
    assert by_key[("a", 0)].error_kind == "env_crash"
    assert set(by_key) == {("a", 0)}  # the two not run are left for --resume
    assert "2 episodes not run yet" in str(stopped)
