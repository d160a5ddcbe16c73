"""Launching env workers: render threads per worker, and workers prestarted before the run needs them."""

from __future__ import annotations

import os
import sys

from vlab_fakes import LinearPolicy, WorkerSafeLinearPolicy, fake_protocol

import vla_bench
from vla_bench.harness import prestart
from vla_bench.harness.worker_pool import render_threads


def test_a_lone_worker_renders_on_every_core_several_get_one_thread_each() -> None:
    assert render_threads(1) == max(1, os.cpu_count() or 1)
    assert render_threads(2) == render_threads(16) == 1


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
