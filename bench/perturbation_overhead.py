"""Per-step cost of the perturbation layer and of the safety metrics (not a test; prints a table).

Rows, each a mean over the same fixed action sequence, measured in this run:

* MetaWorld ``pick-place-v3`` (mt10-pixels@v1, one 224x224 camera): the clean session's step; the same with the
  ``image_noise`` level 3 wrapper (a fresh Gaussian field per frame) and the ``camera`` level 3 wrapper (model
  edit at reset only); ratio = perturbed / clean.
* The safety monitor alone (``SafetyMonitor.update``: the contact scan and the limit checks) as a share of a
  state-only MetaWorld step (mt10@v1) and a PandaPickCube step, whose sessions call it every step.

Run: ``MUJOCO_GL=egl .venv/bin/python bench/perturbation_overhead.py [--steps N]``
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "egl")

import argparse
import time
from typing import Any

import numpy as np

from vla_bench.harness.registry import resolve_adapter
from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import episode_spec


def _step_ms(protocol_id: str, task: str, base: str, steps: int) -> tuple[float, Any]:
    protocol = get_protocol(protocol_id)
    session = resolve_adapter(protocol.adapter).make_session(protocol, protocol.task(task))
    session.reset(episode_spec(protocol, base, 0))
    actions = np.random.default_rng(0).uniform(-0.3, 0.3, (steps, session.task_spec.action_dim)).astype(np.float32)
    started = time.perf_counter()
    for action in actions:
        session.step(action)
    elapsed = (time.perf_counter() - started) / steps * 1e3
    return elapsed, session


def _monitor_ms(session: Any, steps: int) -> float:
    inner = getattr(session, "inner", session)
    monitor = inner._safety
    point = np.zeros(3)
    started = time.perf_counter()
    for _ in range(steps):
        monitor.update(point)
    return (time.perf_counter() - started) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    steps = parser.parse_args().steps
    rows = []
    clean, session = _step_ms("metaworld/mt10-pixels@v1", "pick-place-v3", "pick-place-v3", steps)
    session.close()
    rows.append(("metaworld pixels: clean step", clean, 1.0))
    for arm in ("image_noise.3", "camera.3"):
        value, session = _step_ms("metaworld/mt10-robust@v1", f"pick-place-v3.{arm}", "pick-place-v3", steps)
        session.close()
        rows.append((f"metaworld pixels: {arm} step", value, value / clean))
    for protocol_id, task in (("metaworld/mt10@v1", "pick-place-v3"), ("pandapickcube/state@v1", "pick_cube")):
        step, session = _step_ms(protocol_id, task, task, steps)
        monitor = _monitor_ms(session, steps)
        session.close()
        rows.append((f"{protocol_id}: step (monitor included)", step, 1.0))
        rows.append((f"{protocol_id}: safety monitor alone", monitor, monitor / step))
    print(f"{'what':58s} {'ms/step':>9s} {'ratio':>7s}")
    for name, value, ratio in rows:
        print(f"{name:58s} {value:9.3f} {ratio:7.3f}")


if __name__ == "__main__":
    main()
