"""Gradient steps/s of the offline reference trainers at batch 256 on one thread (not a test; prints ratios).
Decision Transformer runs at its own (CORL) batch of 64 windows of 20 steps.

Every trainer is timed in the same run on the same synthetic Hopper-sized batches (11-d observations, 3-d
actions), and reported relative to BC, the cheapest update, so the figures compare across machines.
d3rlpy is not measured here: it pins gymnasium==1.0.0 and would replace this environment's Gymnasium
(PLATFORM.md measured it at IQL 49-58, TD3+BC 64, BC 145, CQL 8 steps/s on this kind of machine).

Run: ``.venv/bin/python bench/trainer_throughput.py [--steps N] [--repeats R]``
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import statistics
import time

import torch

from vla_bench.datasets import OfflineDataset
from vla_bench.training import OFFLINE, offline_algorithm
from vla_bench.training.algorithm import Problem
from vla_bench.training.replay import TensorReplay

OBS_DIM, ACTION_DIM, ROWS, BATCH = 11, 3, 100_000, 256


def synthetic_replay(data: str, chunk: int) -> TensorReplay:
    generator = torch.Generator().manual_seed(0)
    obs = torch.randn(ROWS, OBS_DIM, generator=generator)
    actions = torch.rand(ROWS, ACTION_DIM, generator=generator) * 2 - 1
    if data == "behavior":
        arrays = {"obs": obs, "actions": actions[:, None, :].repeat(1, chunk, 1), "mask": torch.ones(ROWS, chunk)}
    else:
        arrays = {"obs": obs, "actions": actions, "rewards": torch.randn(ROWS, generator=generator),
                  "next_obs": torch.randn(ROWS, OBS_DIM, generator=generator), "dones": torch.zeros(ROWS)}
    return TensorReplay(arrays, seed=0)


def synthetic_episodes() -> OfflineDataset:
    generator = torch.Generator().manual_seed(0)
    terminals = torch.zeros(ROWS, dtype=torch.bool)
    terminals[999::1000] = True
    return OfflineDataset.from_arrays({
        "observations": torch.randn(ROWS, OBS_DIM, generator=generator).numpy(),
        "actions": (torch.rand(ROWS, ACTION_DIM, generator=generator) * 2 - 1).numpy(),
        "rewards": torch.randn(ROWS, generator=generator).numpy(), "terminals": terminals.numpy()})


def steps_per_second(name: str, steps: int) -> float:
    algorithm_class, config_class = offline_algorithm(name)
    config = config_class()
    problem = Problem(OBS_DIM, ACTION_DIM, (-1.0,) * ACTION_DIM, (1.0,) * ACTION_DIM)
    algorithm = algorithm_class(config, problem)
    if algorithm_class.data == "sequence":  # Decision Transformer: windows of 100 episodes of 1000 steps
        replay = TensorReplay(algorithm.sequence_arrays(synthetic_episodes(), torch.nn.Identity()), seed=0)
    else:
        replay = synthetic_replay(algorithm_class.data, algorithm.chunk)
    batch = int(getattr(config, "batch_size", BATCH)) if algorithm_class.data == "sequence" else BATCH
    for step in range(20):  # warm-up: allocator, first optimizer steps
        algorithm.update(replay.sample(batch), step)
    started = time.perf_counter()
    for step in range(20, 20 + steps):
        algorithm.update(replay.sample(batch), step)
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="timed gradient steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements of each (the median is reported)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rates = {name: statistics.median(steps_per_second(name, args.steps) for _ in range(args.repeats))
             for name in OFFLINE}
    print(f"offline trainers, batch {BATCH}, one thread, {args.steps} steps (median of {args.repeats}):")
    for name, rate in rates.items():
        print(f"  {name:6s} {rate:8.1f} gradient steps/s   ratio to BC {rate / rates['bc']:6.3f}")


if __name__ == "__main__":
    main()
