"""Harness overhead, measured against baselines taken in the same run (not a test; prints ratios).

1. Episodes/s of ``vla-bench`` (1 env worker process, ``baseline:zero``, Hopper-v5 state) against a bare
   Gymnasium loop doing the same episodes (same seeds, same actions) in one process. Goal: ratio >= 0.95.
   The two must also agree on every episode's return, or the comparison is void.
2. Episodes/s with 2 workers against 1 worker on a slow (rendering) environment: Hopper with 84x84 pixel
   observations. Goal: ratio >= 1.8 on 2 cores. Measured twice in the same run: as the harness runs by
   default (render threads chosen per worker: the usable cores shared out, all to a lone worker,
   ``prestart.render_threads``), and without that choice, as Mesa's llvmpipe does on its own: a render thread
   per core in every worker (``LP_NUM_THREADS`` = the core count).
   The policy (``baseline:zero``) runs in the env workers (default placement); both placements are timed
   for the state protocol.

Run: ``.venv/bin/python bench/harness_overhead.py [--episodes N] [--pixel-episodes N] [--repeats R]
[--only state|pixels]``
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "egl")

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np

import vla_bench
from vla_bench.benchmarks.rendering import disable_shadows_and_reflections
from vla_bench.harness.prestart import usable_cpus
from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import full_plan
from vla_bench.spec import Protocol


def bench_protocol(base_id: str, episodes: int) -> Protocol:
    """The registered protocol with more episodes, so that timing is not dominated by start-up."""
    return get_protocol(base_id).model_copy(update={"episodes_per_task": episodes})


def bare_loop(protocol: Protocol) -> tuple[float, list[float]]:
    """Seconds and returns of the same episodes in a plain Gymnasium loop (zero actions)."""
    task = protocol.tasks[0]
    started = time.perf_counter()
    env = gym.make(task.env_id, max_episode_steps=protocol.max_steps)
    assert env.action_space.shape is not None
    zero = np.zeros(env.action_space.shape, dtype=np.float32)
    returns = []
    for spec in full_plan(protocol):
        env.reset(seed=spec.seed)
        total, steps = 0.0, 0
        while True:
            _, reward, terminated, truncated, _ = env.step(zero)
            total += float(reward)
            steps += 1
            if terminated or truncated or steps >= protocol.max_steps:
                break
        returns.append(total)
    env.close()
    return time.perf_counter() - started, returns


def harness(protocol: Protocol, workers: int, envs_per_worker: int, placement: str = "auto"
            ) -> tuple[float, list[float]]:
    started = time.perf_counter()
    result = vla_bench.evaluate("baseline:zero", protocol, workers=workers, envs_per_worker=envs_per_worker,
                                policy_placement=placement)
    elapsed = time.perf_counter() - started
    by_key = {r.key: r.total_return for r in result.records}
    return elapsed, [by_key[spec.key] for spec in full_plan(protocol)]


def pixel_bare_loop_rate(protocol: Protocol, episodes: int) -> float:
    """Steps/s of rendering Hopper frames in one process, for scale."""
    env = gym.make("Hopper-v5", render_mode="rgb_array", width=84, height=84)
    disable_shadows_and_reflections(env.unwrapped.model)  # type: ignore[attr-defined]
    env.reset(seed=0)
    started, steps = time.perf_counter(), 0
    for _ in range(200):
        env.step(np.zeros(3, dtype=np.float32))
        env.render()
        steps += 1
    env.close()
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=400, help="Hopper state episodes per measurement")
    parser.add_argument("--pixel-episodes", type=int, default=24, help="Hopper pixel episodes per measurement")
    parser.add_argument("--repeats", type=int, default=2, help="measurements of each (the median is reported)")
    parser.add_argument("--only", choices=("state", "pixels"), default=None)
    args = parser.parse_args()
    if args.only != "pixels":
        state_overhead(args.episodes, args.repeats)
    if args.only != "state":
        pixel_scaling(args.pixel_episodes, args.repeats)


def state_overhead(episodes: int, repeats: int) -> None:
    state = bench_protocol("mujoco/hopper@v1", episodes)
    bare_times, harness_times, central_times = [], [], []
    for _ in range(repeats):
        seconds, bare_returns = bare_loop(state)
        bare_times.append(seconds)
        seconds, harness_returns = harness(state, workers=1, envs_per_worker=4)
        harness_times.append(seconds)
        seconds, central_returns = harness(state, workers=1, envs_per_worker=4, placement="central")
        central_times.append(seconds)
        if not (np.allclose(bare_returns, harness_returns, rtol=0, atol=1e-9)
                and np.allclose(bare_returns, central_returns, rtol=0, atol=1e-9)):
            raise SystemExit("the harness and the bare loop disagree on episode returns: comparison void")
    bare_rate = episodes / statistics.median(bare_times)
    harness_rate = episodes / statistics.median(harness_times)
    print(f"Hopper-v5 state, zero policy, {episodes} episodes (median of {repeats}):")
    print(f"  bare Gymnasium loop      {bare_rate:8.1f} episodes/s")
    central_rate = episodes / statistics.median(central_times)
    print(f"  vla-bench, 1 worker      {harness_rate:8.1f} episodes/s   (policy in the worker; includes start-up)")
    print(f"  ratio harness / bare     {harness_rate / bare_rate:8.3f}   (goal >= 0.95)")
    print(f"  same, policy central     {central_rate:8.1f} episodes/s   ratio {central_rate / bare_rate:.3f}")


def pixel_scaling(pixel_episodes: int, repeats: int) -> None:
    if "LP_NUM_THREADS" in os.environ:
        raise SystemExit("unset LP_NUM_THREADS: this measures the harness's own choice against Mesa's default")
    pixels = bench_protocol("mujoco/hopper-pixels@v1", pixel_episodes)
    print(f"Hopper-v5 84x84 pixels, zero policy, {pixel_episodes} episodes (median of {repeats}):")
    print(f"  single-process render loop {pixel_bare_loop_rate(pixels, 200):8.1f} steps/s (for scale)")
    ratios: dict[str, float] = {}
    for label, render_threads in (("render threads chosen per worker (default)", None),
                                  (f"without: a render thread per core in every worker ({usable_cpus()})",
                                   str(usable_cpus()))):
        if render_threads is not None:
            os.environ["LP_NUM_THREADS"] = render_threads
        one, two = [], []
        for _ in range(repeats):
            one.append(harness(pixels, workers=1, envs_per_worker=2)[0])
            two.append(harness(pixels, workers=2, envs_per_worker=2)[0])
        os.environ.pop("LP_NUM_THREADS", None)
        rate_one = pixel_episodes / statistics.median(one)
        rate_two = pixel_episodes / statistics.median(two)
        print(f"  {label}:")
        print(f"    vla-bench, 1 worker      {rate_one:8.3f} episodes/s")
        print(f"    vla-bench, 2 workers     {rate_two:8.3f} episodes/s")
        print(f"    ratio 2 / 1 workers      {rate_two / rate_one:8.3f}   (goal >= 1.8)")
        ratios[label] = rate_two / rate_one
    default, without = ratios.values()
    print(f"  2-vs-1 ratio, automatic render threads / without: {default:.3f} / {without:.3f}")


if __name__ == "__main__":
    main()
