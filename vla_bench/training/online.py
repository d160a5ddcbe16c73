"""Online PPO and SAC through Stable-Baselines3 (the field's trusted implementations), wrapped so that
training, evaluation, logging, checkpoints and export look like the offline trainers'.

- Environment: the protocol's Gymnasium environment, built exactly as the ``mujoco`` adapter builds it
  (``gymnasium.make(env_id, max_episode_steps=protocol.max_steps, **env_kwargs)``), state observations, one
  task; or the adapter's own session (``training.envs``, PandaPickCube), where PPO also trains on cameras
  (``training.vision``: ``MultiInputPolicy``, NatureCNN per camera, the graph takes the images). Other
  benchmarks need an environment factory from the harness first (refused with a message).
- Observation (and, for PPO, reward) normalization with SB3's ``VecNormalize``, as rl-zoo does for MuJoCo
  (``normalize: true``); the running observation statistics go into the exported ONNX graph.
- Periodic evaluation through :func:`vla_bench.harness.api.evaluate` every ``--eval-every`` env steps,
  ``train.csv`` with the training episodes' mean return, ``curve.png``, ``model.onnx`` + ``manifest.json``.
- Checkpoints without pickle (``training.online_checkpoints``; SB3's own ``save`` zips cloudpickled objects):
  the policy's state dict and every optimizer as safetensors, ``VecNormalize`` statistics and counters as
  JSON. Resuming continues the
  training from the checkpoint but is *not* bit-identical to an uninterrupted run: environment state and
  SAC's replay buffer are not saved (SAC refills its buffer, starting with ``learning_starts`` steps).

Defaults: SB3's (PPO: Schulman et al. 2017, Table 3 MuJoCo settings - 2048 steps per rollout, 10 epochs,
minibatch 64, Adam 3e-4, gamma 0.99, GAE 0.95, clip 0.2; SAC: Haarnoja et al. 2018, Table 1 - Adam 3e-4,
batch 256, buffer 1M, tau 0.005, gamma 0.99, automatic entropy, 2x256 networks), with rl-zoo's
``learning_starts = 10000`` for SAC on MuJoCo. Override any constructor argument with ``--option k=v``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from vla_bench.spec import Protocol
from vla_bench.spec.errors import UserError
from vla_bench.training import vision
from vla_bench.training.algorithm import config_from_dict
from vla_bench.training.export import TorchPolicy, export_onnx, export_onnx_inputs, write_manifest
from vla_bench.training.logs import CsvLog, plot_curves, progress_bar
from vla_bench.training.offline import EvalPoint, TrainOptions, TrainResult, evaluate_policy
from vla_bench.training.online_checkpoints import load_online_checkpoint, save_online_checkpoint
from vla_bench.training.recording import TransitionRecorder, write_recorded
from vla_bench.training.seeding import seed_everything

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.vec_env import VecEnv

ONLINE_ADAPTERS = ("mujoco",)
SESSION_ADAPTERS = ("pandapickcube",)  # trained on the adapter's session (training.envs)


@dataclass
class PPOConfig:
    learning_rate: float = 3e-4
    n_steps: int = 2048
    batch_size: int = 64
    n_epochs: int = 10
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: int = 64
    """units of each of the 2 hidden layers of actor and critic (SB3 MlpPolicy default: 64)"""
    normalize_obs: bool = True
    normalize_reward: bool = True


@dataclass
class VisionPPOConfig(PPOConfig):
    """PPO on a protocol with cameras (SB3 ``MultiInputPolicy``, see ``training.vision``)."""

    cnn_features: int = 256
    """NatureCNN's output features per camera (SB3's default 256; its 9216x256 layer per 128x128 camera is
    most of the exported model's size)"""


@dataclass
class SACConfig:
    learning_rate: float = 3e-4
    buffer_size: int = 1_000_000
    learning_starts: int = 10_000
    batch_size: int = 256
    tau: float = 0.005
    gamma: float = 0.99
    train_freq: int = 1
    gradient_steps: int = 1
    hidden: int = 256
    """units of each of the 2 hidden layers (SB3 SAC default: 256)"""
    normalize_obs: bool = False
    """rl-zoo does not normalize SAC's MuJoCo observations"""


CONFIGS: dict[str, type[PPOConfig] | type[SACConfig]] = {"ppo": PPOConfig, "sac": SACConfig}


def resolve_protocol(protocol: str | Protocol) -> Protocol:
    if isinstance(protocol, Protocol):
        return protocol
    from vla_bench.harness.api import get_protocol  # noqa: PLC0415 - the API's protocol lookup

    return get_protocol(protocol)


def make_env(protocol: Protocol, seed: int = 0, *, images: bool = False) -> Any:
    """The protocol's environment as the ``mujoco`` adapter builds it (one task, state observations; camera
    observations where ``images`` and the adapter's session gives them)."""
    import gymnasium as gym  # noqa: PLC0415

    # the adapter's own session where no Gymnasium id builds the scored task (or for a plug-in adapter)
    if protocol.adapter in SESSION_ADAPTERS or ":" in protocol.adapter:
        from vla_bench.training.envs import SessionEnv  # noqa: PLC0415

        return SessionEnv(protocol, seed=seed, images=images)
    if protocol.adapter not in ONLINE_ADAPTERS:
        raise UserError(f"online training builds Gymnasium environments directly and supports the "
                        f"{', '.join(ONLINE_ADAPTERS)} benchmarks; {protocol.id} uses adapter {protocol.adapter!r}. "
                        "Train offline (collect a dataset with `vla-bench collect`) or use dagger")
    if protocol.observation.mode != "state" or len(protocol.tasks) != 1:
        raise UserError(f"online training needs a single-task state protocol; {protocol.id} has "
                        f"{len(protocol.tasks)} tasks and observes {protocol.observation.mode!r}")
    task = protocol.tasks[0]
    return gym.make(task.env_id, max_episode_steps=protocol.max_steps, **dict(task.env_kwargs))


class VecNormalizeObs(nn.Module):
    """SB3 ``VecNormalize``'s observation transform: ``clip((x - mean) / sqrt(var + eps), -c, c)``."""

    mean: torch.Tensor
    var: torch.Tensor

    def __init__(self, mean: NDArray[np.float64], var: NDArray[np.float64], epsilon: float, clip: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("var", torch.as_tensor(var, dtype=torch.float32))
        self.epsilon, self.clip = float(epsilon), float(clip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp((x - self.mean) / torch.sqrt(self.var + self.epsilon), -self.clip, self.clip)


class SB3Actor(nn.Module):
    """The deterministic action of an SB3 PPO or SAC policy in the environment's action box."""

    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, algo: str, policy: Any, low: NDArray[np.float32], high: NDArray[np.float32]) -> None:
        super().__init__()
        self.algo = algo
        self.policy = policy
        self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.algo == "sac":  # tanh-squashed in [-1, 1]; SB3 rescales to the box (policy.unscale_action)
            unit: torch.Tensor = self.policy.actor(obs, deterministic=True)
            return self.low + 0.5 * (unit + 1.0) * (self.high - self.low)
        features = self.policy.extract_features(obs, self.policy.pi_features_extractor)
        mean = self.policy.action_net(self.policy.mlp_extractor.forward_actor(features))
        return torch.maximum(torch.minimum(mean, self.high), self.low)  # SB3 predict() clips PPO's actions


def _exported_module(algo: str, model: PPO | SAC, venv: VecEnv) -> nn.Module:
    from gymnasium.spaces import Box  # noqa: PLC0415
    from stable_baselines3.common.vec_env import VecNormalize  # noqa: PLC0415

    from vla_bench.training.export import ExportedPolicy  # noqa: PLC0415

    space = model.action_space
    assert isinstance(space, Box)  # continuous actions (the adapters' action boxes)
    actor = SB3Actor(algo, model.policy, space.low, space.high)
    observation_space = venv.observation_space
    if vision.is_dict_space(observation_space):  # the env's own (HWC) space, before SB3's transpose
        return vision.exported_dict_module(actor, observation_space, venv, VecNormalizeObs)
    if isinstance(venv, VecNormalize) and venv.norm_obs and not isinstance(venv.obs_rms, dict):
        rms = venv.obs_rms
        normalizer: nn.Module = VecNormalizeObs(rms.mean, rms.var, venv.epsilon, venv.clip_obs)
    else:
        normalizer = nn.Identity()
    return ExportedPolicy(normalizer, actor).eval()


def train_online(algo: str, protocol: str | Protocol, out: str | Path, *,
                 options: TrainOptions | None = None) -> TrainResult:
    """Train PPO or SAC for ``options.steps`` environment steps under ``protocol``'s environment."""
    from gymnasium.spaces import Box  # noqa: PLC0415
    from stable_baselines3 import PPO, SAC  # noqa: PLC0415
    from stable_baselines3.common.callbacks import BaseCallback  # noqa: PLC0415
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor, VecNormalize  # noqa: PLC0415

    opts = options or TrainOptions()
    algo = algo.lower()
    if algo not in CONFIGS:
        raise UserError(f"unknown online algorithm {algo!r}: use ppo or sac")
    resolved = resolve_protocol(protocol)
    images = algo == "ppo" and resolved.observation.has_images
    try:
        config = config_from_dict(VisionPPOConfig if images else CONFIGS[algo], dict(opts.options))
    except (ValueError, TypeError) as exc:
        raise UserError(f"--option for {algo}: {exc}") from exc
    directory = Path(out).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    run: dict[str, object] = {"algo": algo, "protocol": resolved.id, "protocol_sha256": resolved.sha256(),
                           "seed": opts.seed, "config": asdict(config)}
    state_path = directory / "checkpoint" / "state.json"
    saved = json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else None
    if saved is not None and saved.get("run", {}) != run:
        raise UserError(f"{directory} holds a checkpoint of another run ({saved.get('run')}); choose another --out "
                        "or pass the same options to resume")
    (directory / "run.json").write_text(json.dumps({**run, "steps": opts.steps}, indent=2, sort_keys=True) + "\n",
                                        encoding="utf-8")
    seed_everything(opts.seed)
    recorders: list[TransitionRecorder] = []

    if images and opts.record_rollouts:
        raise UserError("--record-rollouts writes state datasets; this protocol observes images")

    def build_env() -> Any:
        env = make_env(resolved, seed=opts.seed, images=images)
        if opts.record_rollouts:
            recorders.append(TransitionRecorder(env))
            return recorders[-1]
        return env

    venv: VecEnv = VecMonitor(DummyVecEnv([build_env]))
    normalize_reward = bool(getattr(config, "normalize_reward", False))
    observation_space = venv.observation_space  # also VecNormalize's below (it keeps its env's)
    dict_space = observation_space if vision.is_dict_space(observation_space) else None
    dict_obs = dict_space is not None
    if dict_space is not None:
        vision.check_images(dict_space)
    norm_keys = vision.normalize_keys(dict_space) if dict_space is not None else None
    normalize_obs = bool(config.normalize_obs and (norm_keys is None or norm_keys))
    if normalize_obs or normalize_reward:
        venv = VecNormalize(venv, norm_obs=normalize_obs, norm_reward=normalize_reward, gamma=config.gamma,
                            norm_obs_keys=norm_keys if normalize_obs else None)
    values = {f.name: getattr(config, f.name) for f in fields(config)
              if f.name not in ("hidden", "normalize_obs", "normalize_reward", "cnn_features")}
    if algo == "ppo":
        kwargs: dict[str, object] = {"net_arch": {"pi": [config.hidden] * 2, "vf": [config.hidden] * 2}}
        if dict_obs:
            kwargs["features_extractor_kwargs"] = {"cnn_output_dim": getattr(config, "cnn_features", 256)}
        model: PPO | SAC = PPO("MultiInputPolicy" if dict_obs else "MlpPolicy", venv, seed=opts.seed, device="cpu",
                         policy_kwargs=kwargs, **values)
    else:
        model = SAC("MlpPolicy", venv, seed=opts.seed, device="cpu", policy_kwargs={"net_arch": [config.hidden] * 2},
                    **values)
    start = load_online_checkpoint(directory, algo, model, venv) if saved is not None else 0
    train_log = CsvLog(directory / "train.csv", resume_step=start if saved else None)
    eval_log = CsvLog(directory / "eval.csv", resume_step=start if saved else None)
    last_eval: EvalPoint | None = None
    history: list[dict[str, float]] = []

    inputs = vision.input_names(dict_space) if dict_space is not None else ["state"]

    def export(target: Path) -> tuple[Path, Path]:
        target.mkdir(parents=True, exist_ok=True)
        module = _exported_module(algo, model, venv)
        if dict_space is not None:
            state_shape = dict_space["state"].shape if "state" in inputs else None
            obs_dim = int(state_shape[0]) if state_shape is not None else 0
            onnx_path = export_onnx_inputs(module, vision.example_inputs(dict_space), target / "model.onnx")
        else:
            obs_shape = model.observation_space.shape
            assert obs_shape is not None  # a state Box
            obs_dim = int(obs_shape[0])
            onnx_path = export_onnx(module, obs_dim, target / "model.onnx")
        space = model.action_space
        assert isinstance(space, Box)  # continuous actions
        extra: dict[str, object] = {"library": "stable-baselines3", "last_eval": last_eval}
        if dict_obs:
            extra["policy"] = "MultiInputPolicy (NatureCNN per camera + state)"
        manifest = write_manifest(target, algo=algo, protocol=resolved.id, dataset=None,
                                  steps=int(model.num_timesteps), seed=opts.seed, obs_dim=obs_dim,
                                  action_dim=int(space.shape[0]), chunk=1, action_low=space.low.tolist(),
                                  action_high=space.high.tolist(), config=asdict(config), extra=extra,
                                  inputs=inputs)
        return onnx_path, manifest

    def evaluate_now(step: int) -> None:
        nonlocal last_eval
        last_eval = evaluate_policy(TorchPolicy(_exported_module(algo, model, venv), inputs), resolved,
                                    opts.eval_episodes, step)
        eval_log.write(last_eval)

    class Hooks(BaseCallback):
        def __init__(self, bar: Progress, task: TaskID) -> None:
            super().__init__()
            self.bar, self.task = bar, task
            self.returns: list[float] = []
            self.lengths: list[float] = []
            self.tick, self.tick_step = time.perf_counter(), start

        def _on_step(self) -> bool:
            step = int(self.model.num_timesteps)
            for info in self.locals.get("infos", []):
                if "episode" in info:
                    self.returns.append(float(info["episode"]["r"]))
                    self.lengths.append(float(info["episode"]["l"]))
            if step % opts.log_every == 0:
                now = time.perf_counter()
                row = {"step": float(step),
                       "episode_return": float(np.mean(self.returns)) if self.returns else float("nan"),
                       "episode_length": float(np.mean(self.lengths)) if self.lengths else float("nan"),
                       "steps_per_s": (step - self.tick_step) / max(now - self.tick, 1e-9)}
                self.tick, self.tick_step, self.returns, self.lengths = now, step, [], []
                train_log.write(row)
                history.append(row)
            if opts.eval_every and step % opts.eval_every == 0 and step < opts.steps:
                evaluate_now(step)
            if opts.snapshot_every and step % opts.snapshot_every == 0:
                export(directory / "snapshots" / f"step_{step}")
            if opts.checkpoint_every and step % opts.checkpoint_every == 0:
                save_online_checkpoint(directory, algo, model, venv, run)
            self.bar.update(self.task, completed=step)
            return True

    with progress_bar(opts.progress) as bar:
        task = bar.add_task(f"{algo} seed {opts.seed}", total=opts.steps, completed=start)
        if opts.steps > start:
            model.learn(total_timesteps=opts.steps - start, callback=Hooks(bar, task), reset_num_timesteps=False)
    save_online_checkpoint(directory, algo, model, venv, run)
    if opts.evaluate_at_end:
        evaluate_now(int(model.num_timesteps))
    onnx_path, manifest = export(directory)
    if recorders:
        write_recorded(recorders[0], directory / "rollouts.hdf5",
                       metadata={"algo": algo, "protocol": resolved.id, "seed": opts.seed, "first_step": start})
    plot_curves(directory / "train.csv", directory / "eval.csv", directory / "curve.png",
                f"{algo} on {resolved.id} (seed {opts.seed})")
    venv.close()
    return TrainResult(directory=directory, model=onnx_path, manifest=manifest, steps=int(model.num_timesteps),
                       last_eval=last_eval, history=history)
