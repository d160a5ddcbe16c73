"""The GRPO driver: groups of rollouts from shared episode seeds, the update, logs, checkpoints, export.

Each iteration draws ``groups`` episode seeds from ``(seed, iteration)`` alone and starts every rollout from a
reset, so no environment state crosses an iteration: a checkpoint (taken between iterations, with the action
sampler's generator) resumes to exactly the uninterrupted run. ``--steps`` counts environment steps; the run
stops at the first iteration boundary at or past it. Output layout as the other trainers (run.json,
train.csv, eval.csv, checkpoint/, model.onnx + manifest.json, curve.png).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import TypedDict

import numpy as np
import torch
from numpy.typing import NDArray

from vla_bench.spec import Protocol
from vla_bench.spec.errors import UserError
from vla_bench.training.algorithm import Problem, config_from_dict
from vla_bench.training.checkpoints import load_checkpoint, read_checkpoint_state, save_checkpoint
from vla_bench.training.envs import SessionEnv
from vla_bench.training.export import ExportedPolicy, TorchPolicy, export_onnx, write_manifest
from vla_bench.training.grpo import GRPO, GRPOConfig, group_advantages
from vla_bench.training.logs import CsvLog, plot_curves, progress_bar
from vla_bench.training.offline import EvalPoint, TrainOptions, TrainResult, evaluate_policy
from vla_bench.training.replay import TensorReplay
from vla_bench.training.seeding import seed_everything

# One episode of the current policy; "return" and "success" (1.0 where the protocol's rule fired) are the outcomes
# GRPOConfig.outcome picks from.
Rollout = TypedDict("Rollout", {"states": list[NDArray[np.float32]], "actions": list[NDArray[np.float32]],
                                "return": float, "success": float})


def rollout(algorithm: GRPO, env: SessionEnv, episode_seed: int, generator: torch.Generator) -> Rollout:
    state, _ = env.reset(seed=episode_seed)
    states: list[NDArray[np.float32]] = []
    actions: list[NDArray[np.float32]] = []
    total, success = 0.0, False
    while True:
        action = algorithm.sample(state, generator)
        states.append(state)
        actions.append(action)
        state, reward, terminated, truncated, info = env.step(action)
        total += reward
        success = success or bool(info.get("success"))
        if terminated or truncated:
            return {"states": states, "actions": actions, "return": total, "success": float(success)}


def iteration_seeds(seed: int, iteration: int, groups: int) -> list[int]:
    rng = np.random.default_rng([seed, iteration])
    return [int(s) for s in rng.integers(0, 2**31 - 1, size=groups)]


def collect_batch(algorithm: GRPO, env: SessionEnv, seeds: list[int], generator: torch.Generator) -> tuple[
        dict[str, torch.Tensor], dict[str, float]]:
    c = algorithm.config
    runs = [rollout(algorithm, env, s, generator) for s in seeds for _ in range(c.group_size)]
    outcomes = np.array([r["return"] if c.outcome == "return" else r["success"] for r in runs])
    advantages = group_advantages(outcomes, c.group_size, normalize_std=c.normalize_std)
    obs, acts, adv, weights = [], [], [], []
    for run, a in zip(runs, advantages, strict=True):
        n = len(run["states"])
        obs.extend(run["states"])
        acts.extend(run["actions"])
        adv.extend([a] * n)
        weights.extend([1.0 / (n * len(runs))] * n)
    batch = {"obs": torch.as_tensor(np.stack(obs), dtype=torch.float32),
             "actions": torch.as_tensor(np.stack(acts), dtype=torch.float32),
             "advantages": torch.as_tensor(adv, dtype=torch.float32),
             "weights": torch.as_tensor(weights, dtype=torch.float32)}
    info = {"episode_return": float(np.mean([r["return"] for r in runs])),
            "success_rate": float(np.mean([r["success"] for r in runs])), "env_steps": float(len(obs))}
    return batch, info


def train_grpo(protocol: str | Protocol, out: str | Path, *, options: TrainOptions | None = None) -> TrainResult:
    """Train GRPO for about ``options.steps`` environment steps in ``protocol``'s first task."""
    from vla_bench.training.online import resolve_protocol  # noqa: PLC0415

    opts = options or TrainOptions()
    resolved = resolve_protocol(protocol)
    try:
        config = config_from_dict(GRPOConfig, dict(opts.options))
        env = SessionEnv(resolved, seed=opts.seed)
        low, high = env.action_space.low, env.action_space.high
        problem = Problem(len(env.observation_space.low), len(low), tuple(low.tolist()), tuple(high.tolist()))
        algorithm = GRPO(config, problem)
    except (ValueError, TypeError) as exc:
        raise UserError(f"--option for grpo: {exc}") from exc
    directory = Path(out).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    run: dict[str, object] = {"algo": "grpo", "protocol": resolved.id, "protocol_sha256": resolved.sha256(),
                           "seed": opts.seed, "config": asdict(config)}
    saved = read_checkpoint_state(directory)
    if saved is not None and saved.get("run") != run:
        raise UserError(f"{directory} holds a checkpoint of another run; choose another --out or pass the same "
                        "options to resume")
    (directory / "run.json").write_text(json.dumps({**run, "steps": opts.steps}, indent=2, sort_keys=True) + "\n",
                                        encoding="utf-8")
    seed_everything(opts.seed)
    algorithm = GRPO(config, problem)  # built after seeding: the same seed gives the same initial weights
    sampler = TensorReplay({"unused": torch.zeros(1)}, seed=opts.seed)  # its generator samples the actions
    iteration, env_steps = 0, 0
    if saved is not None:
        state = load_checkpoint(directory, algorithm, sampler)
        iteration, env_steps = int(state["step"]), int(state["env_steps"])
    train_log = CsvLog(directory / "train.csv", resume_step=env_steps if saved else None)
    eval_log = CsvLog(directory / "eval.csv", resume_step=env_steps if saved else None)
    exported = ExportedPolicy(algorithm.normalizer, algorithm.actor)
    history: list[dict[str, float]] = []
    last_eval: EvalPoint | None = None
    next_eval = (env_steps // opts.eval_every + 1) * opts.eval_every if opts.eval_every else None
    every = opts.checkpoint_every
    next_checkpoint = (env_steps // every + 1) * every if every else None
    stop = opts.steps if opts.stop_at is None else min(opts.stop_at, opts.steps)
    with progress_bar(opts.progress) as bar:
        task = bar.add_task(f"grpo seed {opts.seed}", total=opts.steps, completed=env_steps)
        while env_steps < stop:
            tick = time.perf_counter()
            iteration += 1
            batch, info = collect_batch(algorithm, env, iteration_seeds(opts.seed, iteration, config.groups),
                                        sampler.generator)
            algorithm.normalizer.update(batch["obs"])
            metrics = algorithm.update(batch, iteration)
            env_steps += int(info["env_steps"])
            row = {"step": float(env_steps), "iteration": float(iteration), **info, **metrics,
                   "steps_per_s": info["env_steps"] / max(time.perf_counter() - tick, 1e-9)}
            train_log.write(row)
            history.append(row)
            if next_eval is not None and env_steps >= next_eval and env_steps < opts.steps:
                last_eval = evaluate_policy(TorchPolicy(exported), resolved, opts.eval_episodes, env_steps)
                eval_log.write(last_eval)
                next_eval += opts.eval_every * max(1, (env_steps - next_eval) // opts.eval_every + 1)
            if env_steps >= stop or (next_checkpoint is not None and env_steps >= next_checkpoint):
                save_checkpoint(directory, algorithm, sampler, iteration, {"run": run, "env_steps": env_steps})
                while next_checkpoint is not None and next_checkpoint <= env_steps:
                    next_checkpoint += opts.checkpoint_every
            bar.update(task, completed=env_steps)
    env.close()
    if env_steps < opts.steps:  # stopped early (stop_at): checkpointed, not exported
        return TrainResult(directory, None, None, env_steps, last_eval, history)
    if opts.evaluate_at_end:
        last_eval = evaluate_policy(TorchPolicy(exported), resolved, opts.eval_episodes, env_steps)
        eval_log.write(last_eval)
    model = export_onnx(exported, problem.obs_dim, directory / "model.onnx")
    manifest = write_manifest(directory, algo="grpo", protocol=resolved.id, dataset=None, steps=env_steps,
                              seed=opts.seed, obs_dim=problem.obs_dim, action_dim=problem.action_dim, chunk=1,
                              action_low=problem.action_low, action_high=problem.action_high, config=asdict(config),
                              extra={"iterations": iteration, "last_eval": last_eval})
    plot_curves(directory / "train.csv", directory / "eval.csv", directory / "curve.png",
                f"grpo on {resolved.id} (seed {opts.seed})")
    return TrainResult(directory, model, manifest, env_steps, last_eval, history)
