"""The GAIL driver (``vla-bench train gail --dataset DEMOS.hdf5 --protocol P``): rounds of one PPO rollout
on the discriminator's reward, then the discriminator's updates; logs, checkpoints, export as ``train ppo``.

Demonstrations are a D4RL-format file (``vla-bench collect`` of an expert); only their states and actions are
read - GAIL sees no reward. ``train.csv`` logs the environment's own return of the training episodes (from
the monitor under the reward wrapper) for the curve only.

Exact resume: every round starts from a reset seeded by ``(seed, round)``, so no environment state crosses a
round; a checkpoint (taken between rounds) holds PPO's weights and optimizer, VecNormalize's statistics, the
discriminator and its optimizer, and the torch and numpy RNG states (SB3 samples actions with torch and
shuffles minibatches with numpy's global generator). Cutting episodes at round ends costs PPO nothing: the
rollout's last state is bootstrapped by its value, as at every rollout end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import torch

from vla_bench.spec import Protocol
from vla_bench.spec.errors import UserError
from vla_bench.training.algorithm import config_from_dict
from vla_bench.training.checkpoints import load_optimizer, optimizer_tensors
from vla_bench.training.export import TorchPolicy, export_onnx, write_manifest
from vla_bench.training.gail import (
    Discriminator,
    GAILConfig,
    deferred_normalize,
    deferred_reward_buffer,
    discriminator_step,
    reward_wrapper,
    unchecked_distributions,
)
from vla_bench.training.logs import CsvLog, plot_curves, progress_bar
from vla_bench.training.offline import EvalPoint, TrainOptions, TrainResult, evaluate_policy
from vla_bench.training.online import _exported_module, make_env, resolve_protocol
from vla_bench.training.online_checkpoints import load_online_checkpoint, save_online_checkpoint
from vla_bench.training.seeding import seed_everything

GENERATOR_KEYS = ("learning_rate", "n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda", "clip_range",
                  "ent_coef", "vf_coef", "max_grad_norm")
# SB3's own Adam setting (eps 1e-5, what it passes when given no optimizer_kwargs) in torch's fused kernel:
# the same update, one call for all of PPO's parameters instead of a loop over them (~8% of a round here)
GENERATOR_ADAM = {"eps": 1e-5, "fused": True}


def save_gail_state(directory: Path, disc: Discriminator, optimizer: torch.optim.Optimizer, generator: torch.Generator,
                    round_: int) -> None:
    from safetensors.torch import save_file  # noqa: PLC0415

    tensors = {f"disc.{k}": v.detach().clone().contiguous() for k, v in disc.state_dict().items()}
    more, meta = optimizer_tensors("disc", optimizer)
    tensors.update(more)
    tensors["rng.torch"], tensors["rng.expert"] = torch.get_rng_state(), generator.get_state()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng.numpy"] = torch.as_tensor(np.asarray(keys, dtype=np.int64))
    save_file(tensors, str(directory / "checkpoint" / "gail.safetensors"))
    state = {"round": round_, "optimizer": meta, "numpy": [kind, int(pos), int(has_gauss), float(cached)]}
    (directory / "checkpoint" / "gail.json").write_text(json.dumps(state, indent=2, default=str), encoding="utf-8")


def load_gail_state(directory: Path, disc: Discriminator, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator) -> int:
    from safetensors.torch import load_file  # noqa: PLC0415

    tensors = load_file(str(directory / "checkpoint" / "gail.safetensors"))
    state = json.loads((directory / "checkpoint" / "gail.json").read_text(encoding="utf-8"))
    disc.load_state_dict({k[len("disc."):]: v for k, v in tensors.items() if k.startswith("disc.")})
    load_optimizer("disc", optimizer, tensors, state["optimizer"])
    torch.set_rng_state(tensors["rng.torch"])
    generator.set_state(tensors["rng.expert"])
    kind, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    return int(state["round"])


def train_gail(dataset: str | Path, protocol: str | Protocol, out: str | Path, *,
               options: TrainOptions | None = None) -> TrainResult:
    """GAIL from the demonstrations in ``dataset`` in ``protocol``'s environment, about ``options.steps``
    environment steps (whole rounds of ``n_steps``)."""
    with unchecked_distributions():
        return _train_gail(dataset, protocol, out, options=options)


def _train_gail(dataset: str | Path, protocol: str | Protocol, out: str | Path, *,
                options: TrainOptions | None) -> TrainResult:
    from gymnasium import spaces  # noqa: PLC0415
    from stable_baselines3 import PPO  # noqa: PLC0415
    from stable_baselines3.common.callbacks import BaseCallback  # noqa: PLC0415
    from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecMonitor, VecNormalize  # noqa: PLC0415

    from vla_bench.agents.digest import file_sha256  # noqa: PLC0415
    from vla_bench.datasets import read_d4rl  # noqa: PLC0415

    opts = options or TrainOptions()
    resolved = resolve_protocol(protocol)
    try:
        config = config_from_dict(GAILConfig, dict(opts.options))
    except (ValueError, TypeError) as exc:
        raise UserError(f"--option for gail: {exc}") from exc
    demos = read_d4rl(dataset)
    directory = Path(out).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    dataset_info = {"path": str(dataset), "sha256": file_sha256(dataset), "n_steps": len(demos)}
    run: dict[str, object] = {"algo": "gail", "protocol": resolved.id, "protocol_sha256": resolved.sha256(),
                              "seed": opts.seed, "config": asdict(config), "dataset": dataset_info}
    state_path = directory / "checkpoint" / "state.json"
    saved = json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else None
    if saved is not None and _comparable(saved.get("run", {})) != _comparable(run):
        raise UserError(f"{directory} holds a checkpoint of another run; choose another --out or pass the same "
                        "options and demonstrations to resume")
    (directory / "run.json").write_text(json.dumps({**run, "steps": opts.steps}, indent=2, sort_keys=True) + "\n",
                                        encoding="utf-8")
    seed_everything(opts.seed)
    base = VecMonitor(DummyVecEnv([lambda: make_env(resolved, seed=opts.seed)]))
    obs_dim, action_dim = int(np.prod(base.observation_space.shape or ())), int(np.prod(base.action_space.shape or ()))
    if (demos.obs_dim, demos.action_dim) != (obs_dim, action_dim):
        base.close()
        raise UserError(f"{dataset} has states of {demos.obs_dim} and actions of {demos.action_dim} values; "
                        f"{resolved.id} has {obs_dim} and {action_dim}")
    disc = Discriminator(obs_dim, action_dim, config.disc_hidden)
    disc.fit(demos.observations, demos.actions)
    disc_optimizer = torch.optim.Adam(disc.parameters(), lr=config.disc_lr)
    # rewards in one forward pass per rollout, normalized (if asked) as VecNormalize would have step by step
    wrapped = reward_wrapper(base, disc, deferred=True)
    venv: VecEnv = wrapped
    normalizer = None
    if config.normalize_reward:
        venv = normalizer = deferred_normalize(wrapped, norm_obs=config.normalize_obs, gamma=config.gamma)
    elif config.normalize_obs:
        venv = VecNormalize(wrapped, norm_obs=True, norm_reward=False, gamma=config.gamma)
    values = {f.name: getattr(config, f.name) for f in fields(config) if f.name in GENERATOR_KEYS}
    model = PPO("MlpPolicy", venv, seed=opts.seed, device="cpu",
                policy_kwargs={"net_arch": {"pi": [config.hidden] * 2, "vf": [config.hidden] * 2},
                               "optimizer_kwargs": dict(GENERATOR_ADAM)},
                rollout_buffer_class=deferred_reward_buffer(wrapped, normalizer), **values)
    expert = {"obs": torch.as_tensor(demos.observations), "actions": torch.as_tensor(demos.actions)}
    expert_sampler = torch.Generator().manual_seed(opts.seed)
    round_ = 0
    if saved is not None:
        load_online_checkpoint(directory, "ppo", model, venv)
        round_ = load_gail_state(directory, disc, disc_optimizer, expert_sampler)
    start = int(model.num_timesteps)
    train_log = CsvLog(directory / "train.csv", resume_step=start if saved else None)
    eval_log = CsvLog(directory / "eval.csv", resume_step=start if saved else None)
    history: list[dict[str, float]] = []
    last_eval: EvalPoint | None = None
    returns: list[float] = []

    class Returns(BaseCallback):  # the environment's own return of finished training episodes (logging only)
        def _on_step(self) -> bool:
            returns.extend(float(i["episode"]["r"]) for i in self.locals.get("infos", []) if "episode" in i)
            return True

    batch = config.demo_batch_size or config.n_steps
    stop = opts.steps if opts.stop_at is None else min(opts.stop_at, opts.steps)
    with progress_bar(opts.progress) as bar:
        task = bar.add_task(f"gail seed {opts.seed}", total=opts.steps, completed=start)
        while model.num_timesteps < stop:
            tick, round_ = time.perf_counter(), round_ + 1
            venv.seed(int(np.random.default_rng([opts.seed, round_]).integers(2**31 - 1)))
            first = venv.reset()  # each round from a seeded reset (exact resume)
            assert not isinstance(first, tuple)  # a Box observation space: one array
            model._last_obs = first
            model._last_episode_starts = np.ones((venv.num_envs,), dtype=bool)
            wrapped.clear()
            returns.clear()
            model.learn(total_timesteps=config.n_steps, reset_num_timesteps=False, callback=Returns())
            generated = wrapped.transitions()
            for _ in range(config.disc_updates):
                pick = torch.randint(0, len(expert["obs"]), (batch,), generator=expert_sampler)
                mine = torch.randint(0, len(generated["obs"]), (batch,), generator=expert_sampler)
                stats = discriminator_step(disc, disc_optimizer, {k: v[pick] for k, v in expert.items()},
                                           {k: v[mine] for k, v in generated.items()})
            step = int(model.num_timesteps)
            row = {"step": float(step), "episode_return": float(np.mean(returns)) if returns else float("nan"),
                   "gail_reward": float(disc.reward(generated["obs"].numpy(), generated["actions"].numpy()).mean()),
                   **stats, "steps_per_s": config.n_steps / max(time.perf_counter() - tick, 1e-9)}
            train_log.write(row)
            history.append(row)
            if opts.eval_every and step % opts.eval_every < config.n_steps and step < opts.steps:
                last_eval = evaluate_policy(TorchPolicy(_exported_module("ppo", model, venv)), resolved,
                                            opts.eval_episodes, step)
                eval_log.write(last_eval)
            if step >= stop or (opts.checkpoint_every and step % opts.checkpoint_every < config.n_steps):
                save_online_checkpoint(directory, "ppo", model, venv, run)
                save_gail_state(directory, disc, disc_optimizer, expert_sampler, round_)
            bar.update(task, completed=step)
    steps = int(model.num_timesteps)
    if steps < opts.steps:  # stopped early (stop_at): checkpointed, not exported
        venv.close()
        return TrainResult(directory, None, None, steps, last_eval, history)
    module = _exported_module("ppo", model, venv)
    if opts.evaluate_at_end:
        last_eval = evaluate_policy(TorchPolicy(module), resolved, opts.eval_episodes, steps)
        eval_log.write(last_eval)
    model_path = export_onnx(module, obs_dim, directory / "model.onnx")
    space = model.action_space
    assert isinstance(space, spaces.Box)  # MuJoCo's continuous actions (make_env)
    manifest = write_manifest(directory, algo="gail", protocol=resolved.id, dataset=dataset_info, steps=steps,
                              seed=opts.seed, obs_dim=obs_dim, action_dim=action_dim, chunk=1,
                              action_low=space.low.tolist(), action_high=space.high.tolist(), config=asdict(config),
                              extra={"generator": "stable-baselines3 PPO", "rounds": round_, "last_eval": last_eval})
    plot_curves(directory / "train.csv", directory / "eval.csv", directory / "curve.png",
                f"gail on {resolved.id} (seed {opts.seed})")
    venv.close()
    return TrainResult(directory, model_path, manifest, steps, last_eval, history)


def _comparable(run: Mapping[str, object]) -> dict[str, object]:
    """A run's identity for resuming: everything but where the demonstrations file lies (its hash counts)."""
    given = run.get("dataset")
    dataset = {k: v for k, v in given.items() if k != "path"} if isinstance(given, dict) else {}
    return {**run, "dataset": dataset}
