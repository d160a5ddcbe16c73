"""vla-bench against a bare loop, the machine's own limit and a peer, on the same episodes (prints ratios).

Runners, each on the same ``mujoco/hopper@v1`` episodes (50, the protocol's seeds) with the bundled PPO Hopper
ONNX policy (``baseline:ppo-hopper``, ``results/agents/ppo-hopper/``), wall time including start-up:

1. the bare Gymnasium loop: one process, ``gym.make`` + ``reset(seed)`` + the same policy's ``act`` each step;
2. N bare loops as N independent processes side by side (N = the machine's cores; the episodes split
   between them): the machine's own limit for this workload;
3. Stable-Baselines3 ``evaluate_policy``, 8 envs in a ``DummyVecEnv``, the same ONNX policy (SB3 seeds its
   envs itself, so its episodes differ: its mean return is compared, with a tolerance);
4. ``vla-bench eval`` (the CLI, a fresh process) with 1 and 2 workers (default policy placement).

Runners are interleaved within each repeat and the median of the repeats is reported, with the range. The
bare loop and vla-bench must agree on every episode's return (rtol 1e-6: the same seeds, the same policy),
or the comparison is void. Goals on a 2-core machine: 1 worker >= 1.0x the bare loop; 2 workers >= 0.9x the
2-independent-loops limit.

Run: ``.venv/bin/python bench/peer_compare.py [--episodes 50] [--repeats 3] [--loops N]``
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "egl")

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

PROTOCOL = "mujoco/hopper@v1"
AGENT = "baseline:ppo-hopper"


def _episodes(count: int) -> list[Any]:
    from vla_bench.protocols import get_protocol
    from vla_bench.protocols.plan import full_plan

    protocol = get_protocol(PROTOCOL)
    return list(full_plan(protocol))[:count]


def bare_loop(count: int, shard: tuple[int, int] = (0, 1)) -> dict[str, Any]:
    """The plain loop over episodes ``shard[0]::shard[1]`` of the first ``count``: returns and steps."""
    import gymnasium as gym

    from vla_bench.agents.loaders import load_agent
    from vla_bench.protocols import get_protocol

    protocol = get_protocol(PROTOCOL)
    task = protocol.tasks[0]
    policy = load_agent(AGENT).factory()
    env = gym.make(task.env_id, max_episode_steps=protocol.max_steps, **task.env_kwargs)
    low, high = env.action_space.low.astype(np.float32), env.action_space.high.astype(np.float32)
    returns: dict[str, float] = {}
    steps = 0
    from vla_bench.spec import TaskSpec

    spec_of_task = TaskSpec(name=task.name, instruction="", action_low=tuple(low.tolist()),
                            action_high=tuple(high.tolist()), max_steps=protocol.max_steps, observation_mode="state",
                            state_dim=int(env.observation_space.shape[0]))
    for episode in _episodes(count)[shard[0]::shard[1]]:
        observation, _ = env.reset(seed=episode.seed)
        policy.reset(spec_of_task)
        total, length = 0.0, 0
        while True:
            action = np.asarray(policy.act({"state": observation.astype(np.float32)}), dtype=np.float32).reshape(-1)
            observation, reward, terminated, truncated, _ = env.step(np.clip(action, low, high))
            total += float(reward)
            length += 1
            if terminated or truncated or length >= protocol.max_steps:
                break
        returns[f"{episode.task}/{episode.episode_index}"] = total
        steps += length
    env.close()
    return {"returns": returns, "steps": steps}


def timed(function: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = function(*args)
    return time.perf_counter() - started, value


def independent_loops(count: int, loops: int) -> dict[str, Any]:
    """``loops`` bare loops as separate processes started together, the episodes split between them."""
    processes = [subprocess.Popen([sys.executable, __file__, "--bare-shard", f"{i}/{loops}", "--episodes", str(count)],
                                  stdout=subprocess.PIPE, text=True) for i in range(loops)]
    returns: dict[str, float] = {}
    steps = 0
    for process in processes:
        out, _ = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"a bare loop process failed with {process.returncode}")
        part = json.loads(out)
        returns.update(part["returns"])
        steps += part["steps"]
    return {"returns": returns, "steps": steps}


def sb3_evaluate(count: int, n_envs: int = 8) -> dict[str, Any]:
    """SB3's evaluate_policy over a DummyVecEnv, the same ONNX policy behind SB3's predict()."""
    import gymnasium as gym
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv

    from vla_bench.agents.loaders import load_agent
    from vla_bench.protocols import get_protocol

    protocol = get_protocol(PROTOCOL)
    task = protocol.tasks[0]
    policy = load_agent(AGENT).factory()

    class OnnxModel:  # what evaluate_policy needs of a model
        def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                    deterministic: bool = True) -> tuple[np.ndarray, None]:
            batch = [{"state": row.astype(np.float32)} for row in observation]
            return np.asarray(policy.act_batch(batch), dtype=np.float32).reshape(len(batch), -1), None

    env = DummyVecEnv([lambda: gym.make(task.env_id, max_episode_steps=protocol.max_steps, **task.env_kwargs)
                       for _ in range(n_envs)])
    env.seed(0)
    rewards, lengths = evaluate_policy(OnnxModel(), env, n_eval_episodes=count, deterministic=True,
                                       return_episode_rewards=True)
    env.close()
    return {"mean_return": float(np.mean(rewards)), "steps": int(np.sum(lengths))}


def vla_bench_eval(count: int, workers: int) -> dict[str, Any]:
    """The CLI in a fresh process (start-up included), as a user runs it."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        command = [sys.executable, "-m", "vla_bench.cli", "eval", "--agent", AGENT, "--protocol", PROTOCOL,
                   "--out", str(out), "--workers", str(workers)]
        if count < 50:
            command.append(f"--limit-episodes={count}")
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise SystemExit(f"vla-bench eval failed ({run.returncode}): {run.stderr[-2000:]}")
        records = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
        placement = json.loads((out / "summary.json").read_text())["run"].get("policy_placement")
    return {"returns": {f"{r['task']}/{r['episode_index']}": r["total_return"] for r in records},
            "steps": sum(r["length"] for r in records), "placement": placement}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loops", type=int, default=os.cpu_count() or 1, help="independent bare loops (limit)")
    parser.add_argument("--bare-shard", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_shard:
        index, total = (int(x) for x in args.bare_shard.split("/"))
        print(json.dumps(bare_loop(args.episodes, (index, total))))
        return

    runners: dict[str, Any] = {
        "bare Gymnasium loop, one process": lambda: bare_loop(args.episodes),
        f"{args.loops} bare loops, independent processes (the limit)": lambda: independent_loops(args.episodes,
                                                                                                 args.loops),
        "SB3 evaluate_policy, DummyVecEnv x8": lambda: sb3_evaluate(args.episodes),
        "vla-bench eval, 1 worker": lambda: vla_bench_eval(args.episodes, 1),
        "vla-bench eval, 2 workers": lambda: vla_bench_eval(args.episodes, 2),
    }
    rates: dict[str, list[float]] = {name: [] for name in runners}
    reference: dict[str, float] | None = None
    notes: dict[str, str] = {}
    for repeat in range(args.repeats):
        for name, runner in runners.items():
            seconds, value = timed(runner)
            rates[name].append(value["steps"] / seconds)
            print(f"  [{repeat + 1}/{args.repeats}] {name}: {seconds:.2f} s, {value['steps']} steps", flush=True)
            if "returns" in value:
                if reference is None:
                    reference = value["returns"]
                ours = value["returns"]
                if ours.keys() != reference.keys() or not np.allclose(
                        [ours[k] for k in reference], list(reference.values()), rtol=1e-6, atol=1e-6):
                    worst = max(abs(ours.get(k, np.nan) - v) for k, v in reference.items())
                    raise SystemExit(f"{name} disagrees with the bare loop on episode returns (worst {worst}): void")
            elif reference is not None:
                ours_mean, bare_mean = value["mean_return"], float(np.mean(list(reference.values())))
                notes[name] = f"mean return {ours_mean:.1f} vs bare {bare_mean:.1f} (SB3 seeds its own episodes)"
                if abs(ours_mean - bare_mean) > 0.1 * abs(bare_mean):
                    raise SystemExit(f"{name}: mean return {ours_mean:.1f} is far from the bare loop's {bare_mean:.1f}")
            if "placement" in value:
                notes[name] = f"policy placement: {value['placement']}"
    bare = statistics.median(rates["bare Gymnasium loop, one process"])
    limit_name = next(n for n in runners if "independent" in n)
    limit = statistics.median(rates[limit_name])
    print(f"\n{PROTOCOL}, {AGENT} (ONNX), {args.episodes} episodes, wall incl. start-up, median of {args.repeats} "
          f"interleaved repeats [range]; returns of the bare loop and vla-bench agree episode by episode:")
    print(f"  {'runner':<58} {'steps/s':>9}  {'x bare loop':>24}")
    for name, values in rates.items():
        low, high = min(values) / bare, max(values) / bare
        print(f"  {name:<58} {statistics.median(values):9.0f}  {statistics.median(values) / bare:6.2f} "
              f"[{low:.2f}-{high:.2f}]  {notes.get(name, '')}")
    one = statistics.median(rates["vla-bench eval, 1 worker"])
    two = statistics.median(rates["vla-bench eval, 2 workers"])
    print(f"\n  vla-bench 1 worker / bare loop            {one / bare:6.2f}   (goal >= 1.0)")
    print(f"  vla-bench 2 workers / {args.loops}-loop limit        {two / limit:6.2f}   (goal >= 0.9)")
    sb3 = statistics.median(rates[next(n for n in runners if "SB3" in n)])
    print(f"  vla-bench 1 worker / SB3 evaluate_policy  {one / sb3:6.2f}")


if __name__ == "__main__":
    main()
