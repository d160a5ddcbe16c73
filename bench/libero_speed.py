"""LIBERO speed in one process of the LIBERO runtime: build, reset (incl. 10 settle steps) and steps/s.

steps/s is wall-clock; steps per CPU-second counts this process's CPU time (all threads), which says what one
free core gives when the machine is shared.

Run with the runtime's interpreter and this checkout on the path, e.g.
    PYTHONPATH=. MUJOCO_GL=egl ~/.local/share/vla-bench/runtimes/libero-*/bin/python bench/libero_speed.py
Options: --suite spatial --steps 100 --pixel-steps 30.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from vla_bench.benchmarks.libero.adapter import LiberoAdapter
from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import Protocol


def _state_only(protocol: Protocol) -> Protocol:
    observation = protocol.observation.model_copy(update={"mode": "state", "cameras": (), "image_height": None,
                                                          "image_width": None})
    return protocol.model_copy(update={"observation": observation})


def measure(protocol: Protocol, steps: int) -> dict[str, float]:
    task = protocol.tasks[0]
    started = time.perf_counter()
    session = LiberoAdapter().make_session(protocol, task)
    built = time.perf_counter()
    session.reset(episode_spec(protocol, task.name, 0))
    reset = time.perf_counter()
    rng = np.random.default_rng(0)
    cpu = time.process_time()  # all threads of this process (llvmpipe renders in threads): less load-dependent
    for _ in range(steps):
        session.step(rng.uniform(-1.0, 1.0, 7).astype(np.float32))
    cpu = time.process_time() - cpu
    done = time.perf_counter()
    session.reset(episode_spec(protocol, task.name, 1))
    second_reset = time.perf_counter() - done
    session.close()
    return {"build_s": built - started, "reset_s": reset - built, "second_reset_s": second_reset,
            "steps_per_s": steps / (done - reset), "steps_per_cpu_s": steps / cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--suite", default="spatial")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--pixel-steps", type=int, default=30)
    args = parser.parse_args()
    protocol = get_protocol(f"libero/{args.suite}@v1")
    for name, variant, steps in (("state", _state_only(protocol), args.steps),
                                 ("two 256x256 cameras + state", protocol, args.pixel_steps)):
        numbers = measure(variant, steps)
        print(f"{protocol.id} {name}: " + ", ".join(f"{key} {value:.2f}" for key, value in numbers.items()))


if __name__ == "__main__":
    main()
