"""A policy cannot take the run down: whatever it does, its own episodes fail with the reason.

With the policy in the env workers, a policy that exits, segfaults or spins past its time limit takes only
its worker process with it; in the orchestrator (central placement), SystemExit and KeyboardInterrupt
raised by a policy are faults of that episode. An orchestrator stopped by a signal leaves a summary saying
``aborted`` and why.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from vlab_fakes import fake_protocol

import vla_bench
from vla_bench.harness.eval_config import Placement
from vla_bench.protocols.plan import episode_spec

TESTS = Path(__file__).resolve().parents[1]


def _run(monkeypatch: pytest.MonkeyPatch, mode: str, placement: Placement, agent: str = "vlab_fakes:MisbehavingPolicy",
         **options: Any) -> dict:
    protocol = fake_protocol(episodes=3)
    bad = episode_spec(protocol, "a", 1)
    monkeypatch.setenv("VLAB_BAD_SEED", str(bad.seed))
    monkeypatch.setenv("VLAB_MODE", mode)
    result = vla_bench.evaluate(agent, protocol, workers=1, envs_per_worker=3, policy_placement=placement, **options)
    assert result.summary["run"]["policy_placement"] == placement
    records = {r.key: r for r in result.records}
    assert len(records) == 6, "the run must finish every episode"
    clean = {r.key: r.outcome() for r in vla_bench.evaluate("vlab_fakes:LinearPolicy", protocol).records}
    assert all(r.outcome() == clean[key] for key, r in records.items() if key != ("a", 1))  # the others: as if clean
    return records[("a", 1)].to_json()


@pytest.mark.parametrize(("mode", "kind", "fragment"), [
    ("exit", "policy_error", "SystemExit: 3"),
    ("interrupt", "policy_error", "KeyboardInterrupt"),
    ("memory", "policy_error", "MemoryError"),
    ("os_exit", "env_crash", "exited with code 1"),
    ("segfault", "env_crash", "SIGSEGV"),
])
def test_a_policy_in_the_worker_that_ends_its_process_fails_only_its_episode(
        monkeypatch: pytest.MonkeyPatch, mode: str, kind: str, fragment: str) -> None:
    failed = _run(monkeypatch, mode, "worker")
    assert failed["error_kind"] == kind and fragment in failed["error"], failed


@pytest.mark.parametrize("mode", ["exit", "interrupt"])
def test_a_central_policy_raising_systemexit_or_keyboardinterrupt_fails_only_its_episode(
        monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    failed = _run(monkeypatch, mode, "central")
    assert failed["error_kind"] == "policy_error"
    assert ("SystemExit" if mode == "exit" else "KeyboardInterrupt") in failed["error"]


@pytest.mark.parametrize(("mode", "kind", "fragment"), [
    ("os_exit", "policy_error", "policy process died (exited with code 1)"),
    ("segfault", "policy_error", "SIGSEGV"),
    ("spin", "policy_timeout", "per-step limit of 0.5 s (at step 1)"),
])
def test_an_undeclared_factory_runs_centrally_in_a_process_that_takes_its_faults(
        monkeypatch: pytest.MonkeyPatch, mode: str, kind: str, fragment: str) -> None:
    started = time.process_time()
    failed = _run(monkeypatch, mode, "central", "vlab_fakes:CentralMisbehavingPolicy", policy_timeout=0.5)
    assert failed["error_kind"] == kind and fragment in failed["error"], failed
    assert time.process_time() - started < 10.0  # the spinning call was killed with its process, not left here


def test_a_timed_out_policy_in_the_worker_leaves_no_thread_burning_a_core(monkeypatch: pytest.MonkeyPatch) -> None:
    policy_threads = [t for t in threading.enumerate() if t.name == "vla-bench-policy"]
    earlier_children = set(_children())  # other tests' servers may still be running in this pytest process
    failed = _run(monkeypatch, "spin", "worker", policy_timeout=0.5)
    assert failed["error_kind"] == "policy_timeout" and "at step 1" in failed["error"]
    # the spinning call died with its worker process: no thread of it here, nothing burning a core after the run
    assert [t for t in threading.enumerate() if t.name == "vla-bench-policy"] == policy_threads
    before = time.process_time()
    time.sleep(1.0)
    assert time.process_time() - before < 0.5  # the policy would spin for 30 s
    assert set(_children()) - earlier_children == set()  # the run's workers are gone


def _children() -> list[str]:
    return subprocess.run(["pgrep", "-P", str(os.getpid())], capture_output=True, text=True).stdout.split()


def test_an_orchestrator_stopped_by_sigterm_leaves_an_aborted_summary(tmp_path: Path) -> None:
    out = tmp_path / "run"
    script = ("import vla_bench\nfrom vlab_fakes import LinearPolicy, fake_protocol\n"
              "slow = [{'name': 'a', 'env_id': 'fake', 'env_kwargs': {'step_sleep': 0.02}}]\n"
              "p = fake_protocol(episodes=40, tasks=slow)\n"
              f"vla_bench.evaluate(LinearPolicy, p, out={str(out)!r})\n")
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    run = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE)
    episodes = out / "episodes.jsonl"
    deadline = time.monotonic() + 90
    while not (episodes.exists() and episodes.read_text().count("\n") >= 2):
        assert run.poll() is None and time.monotonic() < deadline, run.stderr.read() if run.stderr else ""
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=60) != 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "aborted"
    assert "SIGTERM" in summary["run"]["aborted"]
    assert 2 <= summary["n_episodes_done"] < 40
