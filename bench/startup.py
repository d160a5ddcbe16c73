"""Start-up of ``vla-bench eval`` on MuJoCo against a bare Gymnasium one-liner, in the same run (not a test).

Each repeat runs, interleaved, as fresh processes:

1. the bare reference: ``python -c "import gymnasium; env = gymnasium.make('Hopper-v5'); env.reset(seed=0);
   env.step(env.action_space.sample())"`` (it prints the wall clock right after its step);
2. ``vla-bench eval --agent baseline:random --protocol mujoco/hopper@v1 --limit-episodes 1`` into a fresh
   folder; its time to the first env step is the bundle's own ``run.timings.first_step_s`` (seconds from the
   process's start, as the worker that stepped reported it).

Printed: the median [range] of the time to the first env step and of the whole command's wall time (one
episode, including scoring and the report), and the ratio to the bare reference. Goal: first env step within
0.5 s of the command starting. The machine's load is printed too: quote figures from an otherwise idle machine.

Run: ``.venv/bin/python bench/startup.py [--repeats N] [--workers N] [--agent A] [--protocol P]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE = ("import gymnasium, time; env = gymnasium.make('Hopper-v5'); env.reset(seed=0); "
        "env.step(env.action_space.sample()); print(time.time(), flush=True)")


def bare_once() -> tuple[float, float]:
    """(seconds to the first step, seconds to exit) of the bare one-liner, from just before it is spawned."""
    started = time.time()
    output = subprocess.run([sys.executable, "-c", BARE], capture_output=True, text=True, check=True).stdout
    ended = time.time()
    return float(output.split()[-1]) - started, ended - started


def eval_once(folder: Path, agent: str, protocol: str, workers: int) -> tuple[float, float]:
    """(first_step_s as the bundle records it, seconds to exit) of one ``vla-bench eval`` of one episode."""
    command = [str(Path(sys.executable).with_name("vla-bench")), "eval", "--agent", agent, "--protocol", protocol,
               "--limit-episodes", "1", "--workers", str(workers), "--out", str(folder)]
    started = time.time()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    ended = time.time()
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    timings = json.loads((folder / "summary.json").read_text())["run"]["timings"]
    if timings.get("first_step_s") is None:
        raise SystemExit(f"{folder}/summary.json records no first env step")
    return float(timings["first_step_s"]), ended - started


def _line(label: str, values: list[float], reference: list[float] | None = None) -> str:
    median = statistics.median(values)
    text = f"  {label:<40} {median:6.3f} s  [{min(values):.3f}-{max(values):.3f}]"
    if reference is not None:
        text += f"   {median / statistics.median(reference):5.2f}x the bare one-liner"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repeats (the median is reported)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--agent", default="baseline:random")
    parser.add_argument("--protocol", default="mujoco/hopper@v1")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    bare_first, bare_wall, first, wall = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="vlab-startup-") as tmp:
        bare_once(), eval_once(Path(tmp) / "warm", args.agent, args.protocol, args.workers)  # page cache, .pyc
        for repeat in range(args.repeats):
            step, total = bare_once()
            bare_first.append(step)
            bare_wall.append(total)
            step, total = eval_once(Path(tmp) / f"run-{repeat}", args.agent, args.protocol, args.workers)
            first.append(step)
            wall.append(total)
    print(f"start-up, median [range] of {args.repeats} interleaved repeats (load average now "
          f"{os.getloadavg()[0]:.1f}):")
    print(_line("bare one-liner: first env step", bare_first))
    print(_line("bare one-liner: process exit", bare_wall))
    print(_line("vla-bench eval: first env step", first, bare_first) + "   (goal <= 0.5 s)")
    print(_line("vla-bench eval: 1 episode, process exit", wall, bare_wall))


if __name__ == "__main__":
    main()
