"""Launching env workers: render threads per worker, and workers prestarted before the run needs them."""

from __future__ import annotations

import os
import sys

from vlab_fakes import LinearPolicy, WorkerSafeLinearPolicy, fake_protocol

import vla_bench
from vla_bench.harness import prestart
from vla_bench.harness.worker_pool import render_threads


def test_render_threads_share_the_usable_cores_out_between_the_workers(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert render_threads(1) == prestart.usable_cpus() <= (os.cpu_count() or 1)
    monkeypatch.setattr(prestart, "usable_cpus", lambda: 16)
    assert [render_threads(n) for n in (1, 2, 3, 16, 32)] == [16, 8, 5, 1, 1]
    monkeypatch.setattr(prestart, "usable_cpus", lambda: 2)
    assert render_threads(2) == 1  # measured: 2.09x one worker with one thread each, 1.26x with two each


def test_eval_arguments_start_the_workers_before_the_cli_is_imported(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[tuple[int, str, str | None]] = []
    monkeypatch.setattr(prestart, "prestart", lambda *args: calls.append(args))
    prestart.prestart_from_argv(["eval", "--agent", "baseline:zero", "--protocol=mujoco/hopper@v1", "--workers", "2"])
    prestart.prestart_from_argv(["eval", "--agent", "m.py:f", "--protocol", "p@v1", "--policy-placement", "worker"])
    prestart.prestart_from_argv(["eval", "--agent", "a.onnx", "--protocol", "p@v1", "--policy-placement=central"])
    assert calls == [(2, "mujoco/hopper@v1", "baseline:zero"), (1, "p@v1", None), (1, "p@v1", None)]
    for argv in (["eval", "--agent", "x", "--protocol", "p", "--executor", "ray"], ["eval", "--protocol", "p"],
                 ["eval", "--agent", "x", "--protocol", "p", "--workers", "two"], ["report", "runs/x"],
                 ["eval", "--agent", "x", "--protocol", "p", "--help"], []):
        prestart.prestart_from_argv(argv)
    assert len(calls) == 3  # nothing it does not understand


def test_prestarted_workers_are_taken_by_the_run_and_give_the_same_records(tmp_path) -> None:  # type: ignore[no-untyped-def]
    protocol = fake_protocol(episodes=2)
    path = tmp_path / "fake.json"
    path.write_text(protocol.model_dump_json())
    reference = {r.key: r.outcome() for r in vla_bench.evaluate(LinearPolicy, protocol, workers=2).records}
    prestart.prestart(2, str(path), "vlab_fakes:WorkerSafeLinearPolicy")
    pids = {w.process.pid for w in prestart._WAITING}
    assert len(pids) == 2
    result = vla_bench.evaluate(WorkerSafeLinearPolicy, protocol, workers=2)
    assert prestart._WAITING == []  # both taken
    assert {r.key: r.outcome() for r in result.records} == reference
    assert result.summary["run"]["policy_placement"] == "worker"


def test_prestarted_workers_that_do_not_fit_the_run_are_stopped() -> None:
    prestart.prestart(1, "mujoco/hopper@v1", None)
    (waiting,) = prestart._WAITING
    assert prestart.take(sys.executable, False, {}, workers=2) is None  # started for another worker count
    assert prestart._WAITING == [] and waiting.process.poll() is not None
