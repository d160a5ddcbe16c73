"""The offline training loop shared by every offline trainer: data, seeding, periodic evaluation through
the harness's Python API, CSV logs, checkpoints / resume, the PNG curve and the ONNX export.

Output directory layout::

    DIR/run.json                 what was asked (algo, protocol, dataset hash, seed, steps, config)
    DIR/train.csv, DIR/eval.csv  losses every --log-every steps; evaluations every --eval-every steps
    DIR/checkpoint/              weights.safetensors + state.json (the latest; resumable)
    DIR/model.onnx               the exported policy (normalization inside); DIR/manifest.json
    DIR/curve.png                training curve

Running the same command again with the same DIR resumes from the checkpoint (refusing if the algorithm,
dataset, seed or config differ) and continues to ``--steps``; the result equals an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from vla_bench.spec import Protocol
from vla_bench.spec.errors import UserError


class EvalPoint(TypedDict):
    """One periodic evaluation of a trainer (:func:`evaluate_policy`): a row of ``eval.csv``."""

    step: int
    metric: str | None  # the protocol's primary metric
    score: float | None  # its mean, with the 95% interval below (None: no episode finished)
    score_low: float | None
    score_high: float | None
    mean_return: float | None
    success_rate: float | None
    episodes: int
    errors: int
    seconds: float


@dataclass
class TrainOptions:
    """Options common to every offline trainer (the algorithm's own live in its config dataclass)."""

    steps: int = 1_000_000
    """gradient steps in total (CORL max_timesteps: 1M)"""
    seed: int = 0
    eval_every: int = 0
    """evaluate every K steps and at the end (0: only at the end; CORL eval_freq: 5000)"""
    eval_episodes: int = 10
    """episodes per task per evaluation (CORL n_episodes: 10; 100 for AntMaze); unofficial runs"""
    log_every: int = 100
    checkpoint_every: int = 10_000
    progress: bool = True
    evaluate_at_end: bool = True
    options: Mapping[str, object] = field(default_factory=dict)
    """algorithm config overrides, e.g. {"alpha": 2.5}"""
    snapshot_every: int = 0
    """online trainers: also export the policy every K env steps to OUT/snapshots/step_K (0: never)"""
    record_rollouts: bool = False
    """online trainers: write every training transition to OUT/rollouts.hdf5 (D4RL medium-replay)"""
    stop_at: int | None = None
    """stop after this step (checkpointed, not exported): train in pieces; the same call resumes"""


@dataclass
class TrainResult:
    directory: Path
    model: Path | None
    manifest: Path | None
    steps: int
    last_eval: EvalPoint | None
    history: list[dict[str, float]]


def train_offline(algo: str, dataset_path: str | Path, out: str | Path, *, protocol: str | Protocol | None,
                  options: TrainOptions | None = None) -> TrainResult:
    """Train ``algo`` on a D4RL-format file; evaluate under ``protocol`` (if given); export to ONNX."""
    from vla_bench.agents.digest import file_sha256  # noqa: PLC0415
    from vla_bench.datasets import read_d4rl  # noqa: PLC0415
    from vla_bench.training import offline_algorithm  # noqa: PLC0415
    from vla_bench.training.algorithm import Problem, config_from_dict  # noqa: PLC0415
    from vla_bench.training.checkpoints import (  # noqa: PLC0415
        load_checkpoint,
        read_checkpoint_state,
        save_checkpoint,
    )
    from vla_bench.training.export import ExportedPolicy, TorchPolicy, export_onnx, write_manifest  # noqa: PLC0415
    from vla_bench.training.logs import CsvLog, plot_curves, progress_bar  # noqa: PLC0415
    from vla_bench.training.networks import ObsNormalizer  # noqa: PLC0415
    from vla_bench.training.replay import (  # noqa: PLC0415
        TensorReplay,
        behavior_arrays,
        reward_scale,
        transition_arrays,
    )
    from vla_bench.training.seeding import seed_everything  # noqa: PLC0415

    opts = options or TrainOptions()
    if opts.steps < 1:
        raise UserError("--steps must be at least 1")
    algorithm_class, config_class = offline_algorithm(algo)
    directory = Path(out).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    protocol_id = protocol.id if isinstance(protocol, Protocol) else protocol

    dataset = read_d4rl(dataset_path)
    dataset_hash = file_sha256(dataset_path)
    recorded_protocol = dataset.metadata.get("protocol_id")
    if recorded_protocol and protocol_id and recorded_protocol != protocol_id:
        import warnings  # noqa: PLC0415

        warnings.warn(f"{dataset_path} was collected under {recorded_protocol} but evaluation runs {protocol_id}; "
                      "fine if they share the environment (e.g. d4rl/hopper-* and mujoco/hopper), wrong otherwise",
                      stacklevel=2)
    values = dict(opts.options)
    if any(f.name == "schedule_steps" for f in fields(config_class)):
        values.setdefault("schedule_steps", opts.steps)
    try:
        config = config_from_dict(config_class, values)
    except (ValueError, TypeError) as exc:
        raise UserError(f"--option for {algo}: {exc}") from exc
    run = {"algo": algorithm_class.name, "protocol": protocol_id, "seed": opts.seed,
           "dataset": {"path": str(dataset_path), "sha256": dataset_hash, "n_steps": len(dataset),
                       "protocol_id": recorded_protocol},
           "config": asdict(config)}
    saved = read_checkpoint_state(directory)
    if saved is not None:
        _check_resume(directory, saved, run, opts.steps)
    (directory / "run.json").write_text(json.dumps({**run, "steps": opts.steps}, indent=2, sort_keys=True,
                                                   default=str) + "\n", encoding="utf-8")

    seed_everything(opts.seed)
    problem = Problem.from_dataset(dataset)
    normalizer = ObsNormalizer.fit(dataset.observations, enabled=bool(getattr(config, "normalize_obs", True)))
    algorithm = algorithm_class(config, problem)
    if algorithm_class.data == "sequence":  # windows of whole episodes (Decision Transformer)
        arrays = algorithm.sequence_arrays(dataset, normalizer)
    elif algorithm_class.data == "behavior":
        arrays = behavior_arrays(dataset, normalizer, chunk=algorithm.chunk)
    else:
        arrays = transition_arrays(dataset, normalizer)
        if getattr(config, "normalize_reward", False):
            arrays["rewards"] = arrays["rewards"] * reward_scale(dataset)
    replay = TensorReplay(arrays, seed=opts.seed)
    start = 0
    if saved is not None:
        start = int(load_checkpoint(directory, algorithm, replay)["step"])
    train_log = CsvLog(directory / "train.csv", resume_step=start if saved else None)
    eval_log = CsvLog(directory / "eval.csv", resume_step=start if saved else None)
    exported = ExportedPolicy(normalizer, algorithm.policy())
    history: list[dict[str, float]] = []
    last_eval: EvalPoint | None = None

    def evaluate_now(step: int) -> None:
        nonlocal last_eval
        if protocol is None:
            return
        acting = algorithm.acting_policy(normalizer) or TorchPolicy(exported)
        last_eval = evaluate_policy(acting, protocol, opts.eval_episodes, step)
        eval_log.write(last_eval)

    window: dict[str, list[float]] = {}
    tick = time.perf_counter()
    with progress_bar(opts.progress) as bar:
        task = bar.add_task(f"{algorithm.name} seed {opts.seed}", total=opts.steps, completed=start)
        last = opts.steps if opts.stop_at is None else min(opts.stop_at, opts.steps)
        for step in range(start + 1, last + 1):
            metrics = algorithm.update(replay.sample(config.batch_size), step)
            for key, value in metrics.items():
                window.setdefault(key, []).append(value)
            if step % opts.log_every == 0 or step == opts.steps:
                now = time.perf_counter()
                row = {"step": float(step), **{k: _nanmean(v) for k, v in window.items()},
                       "steps_per_s": len(next(iter(window.values()), [])) / max(now - tick, 1e-9)}
                tick, window = now, {}
                train_log.write(row)
                history.append(row)
            if opts.eval_every and step % opts.eval_every == 0 and step != opts.steps:
                evaluate_now(step)
            if step in (opts.steps, last) or (opts.checkpoint_every and step % opts.checkpoint_every == 0):
                if step == opts.steps and opts.evaluate_at_end:
                    evaluate_now(step)
                save_checkpoint(directory, algorithm, replay, step, {"run": run})
            bar.update(task, completed=step)
    if opts.stop_at is not None and opts.stop_at < opts.steps:
        return TrainResult(directory=directory, model=None, manifest=None, steps=min(opts.stop_at, opts.steps),
                           last_eval=last_eval, history=history)

    extra = algorithm.export(normalizer, directory)  # its own graphs (DT), or None: the one-input export
    model = directory / "model.onnx"
    if extra is None:
        export_onnx(exported, problem.obs_dim, model)
    manifest = write_manifest(directory, algo=algorithm.name, protocol=protocol_id, dataset=run["dataset"],
                              steps=max(start, opts.steps), seed=opts.seed, obs_dim=problem.obs_dim,
                              action_dim=problem.action_dim, chunk=algorithm.chunk,
                              action_low=problem.action_low, action_high=problem.action_high,
                              config=run["config"],
                              extra={**(extra or {}), **({"last_eval": last_eval} if last_eval else {})})
    plot_curves(directory / "train.csv", directory / "eval.csv", directory / "curve.png",
                f"{algorithm.name} on {Path(dataset_path).name} (seed {opts.seed})")
    return TrainResult(directory=directory, model=model, manifest=manifest, steps=max(start, opts.steps),
                       last_eval=last_eval, history=history)


def evaluate_policy(policy: object, protocol: str | Protocol, episodes: int, step: int) -> EvalPoint:
    """One evaluation point through :func:`vla_bench.harness.api.evaluate` (unofficial: limited episodes)."""
    from vla_bench.harness.api import evaluate  # noqa: PLC0415

    began = time.perf_counter()
    result = evaluate(policy, protocol, limit_episodes=episodes, progress=False)
    aggregate = result.scores.get("aggregate", {})
    mean = aggregate.get("mean") or {}
    records = result.records
    returns = [r.total_return for r in records if r.error is None]
    successes = [bool(r.success) for r in records if r.error is None and r.success is not None]
    return {"step": step, "metric": aggregate.get("metric"), "score": mean.get("mean"),
            "score_low": (mean.get("ci95") or [None, None])[0], "score_high": (mean.get("ci95") or [None, None])[1],
            "mean_return": float(np.mean(returns)) if returns else None,
            "success_rate": float(np.mean(successes)) if successes else None,
            "episodes": len(records), "errors": sum(1 for r in records if r.error),
            "seconds": round(time.perf_counter() - began, 2)}


def _check_resume(directory: Path, saved: Mapping[str, Any], run: Mapping[str, Any], steps: int) -> None:
    before = saved.get("run", {})
    for key in ("algo", "seed"):
        if before.get(key) != run[key]:
            raise UserError(f"{directory} holds a checkpoint of {key} {before.get(key)!r}, not {run[key]!r}: "
                            "choose another --out or pass the same options to resume")
    if before.get("dataset", {}).get("sha256") != run["dataset"]["sha256"]:
        raise UserError(f"{directory} was trained on another dataset (sha256 {before.get('dataset', {}).get('sha256')}"
                        f"); choose another --out")
    old, new = dict(before.get("config", {})), dict(run["config"])
    old.pop("schedule_steps", None)
    new.pop("schedule_steps", None)
    if old != new:
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        raise UserError(f"{directory} was trained with other options ({', '.join(changed)}); pass the same "
                        "--option values to resume, or choose another --out")
    if int(saved.get("step", 0)) > steps:
        raise UserError(f"{directory} is already at step {saved['step']} > --steps {steps}")


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(sum(finite) / len(finite)) if finite else math.nan
