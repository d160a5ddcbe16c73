"""robomimic env steps/s through the harness (not a test; prints a table).

For each protocol: ``baseline:random`` for one episode, capped at ``--steps`` steps (a copy of the protocol
with a lower ``max_steps``: random actions never succeed, so every episode runs to the cap), one env worker.
Reported from the episode record's timings: env steps per second (steps / time in env steps) and the rest
of the episode's wall time (env worker start-up, session construction, reset).

Run: ``.venv/bin/python bench/robomimic_speed.py [--steps N] [PROTOCOL_ID ...]``
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "egl")

import argparse

import vla_bench
from vla_bench.protocols import get_protocol, protocol_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("protocols", nargs="*", help="protocol ids (default: every robomimic ph protocol)")
    parser.add_argument("--steps", type=int, default=100, help="steps per episode (default 100)")
    args = parser.parse_args()
    ids = args.protocols or [pid for pid in protocol_ids("robomimic") if "-ph" in pid]
    print(f"{'protocol':34} {'steps':>6} {'steps/s':>8} {'other s':>8}")
    for pid in ids:
        protocol = get_protocol(pid).model_copy(update={"max_steps": args.steps})
        result = vla_bench.evaluate("baseline:random", protocol, limit_episodes=1, envs_per_worker=1)
        [record] = result.records
        timings = record.timings  # env_s: the step round trips only; wall_s also holds start-up and reset
        rate = record.length / timings["env_s"]
        other = timings["wall_s"] - timings["env_s"] - timings["policy_s"]
        print(f"{pid:34} {record.length:6d} {rate:8.1f} {other:8.1f}", flush=True)

if __name__ == "__main__":
    main()
