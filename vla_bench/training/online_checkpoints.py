"""Checkpoints of the SB3 trainers (PPO, SAC; GAIL's generator) without pickle: SB3's own ``save`` zips
cloudpickled objects, so the policy's state dict and every optimizer go to safetensors and the
``VecNormalize`` statistics and counters to JSON (``checkpoint/weights.safetensors`` + ``checkpoint/state.json``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from vla_bench.training.checkpoints import OptimizerMeta, load_optimizer, optimizer_tensors

if TYPE_CHECKING:
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.vec_env import VecEnv


def _optimizers(algo: str, model: PPO | SAC) -> dict[str, torch.optim.Optimizer]:
    from stable_baselines3 import SAC  # noqa: PLC0415

    if algo == "ppo":
        return {"policy": model.policy.optimizer}
    assert isinstance(model, SAC)
    found = {"actor": model.actor.optimizer, "critic": model.critic.optimizer}
    if model.ent_coef_optimizer is not None:
        found["ent_coef"] = model.ent_coef_optimizer
    return found


def save_online_checkpoint(directory: Path, algo: str, model: PPO | SAC, venv: VecEnv,
                           run: Mapping[str, object]) -> None:
    from safetensors.torch import save_file  # noqa: PLC0415
    from stable_baselines3 import SAC  # noqa: PLC0415
    from stable_baselines3.common.vec_env import VecNormalize  # noqa: PLC0415

    target = directory / "checkpoint"
    target.mkdir(parents=True, exist_ok=True)
    tensors = {f"policy.{k}": v.detach().clone().contiguous() for k, v in model.policy.state_dict().items()}
    meta: dict[str, OptimizerMeta] = {}
    for name, optimizer in _optimizers(algo, model).items():
        more, meta[name] = optimizer_tensors(name, optimizer)
        tensors.update(more)
    if isinstance(model, SAC) and model.log_ent_coef is not None:
        tensors["extra.log_ent_coef"] = model.log_ent_coef.detach().clone()
    norm: dict[str, object] = {}
    if isinstance(venv, VecNormalize):
        norm = {"ret_mean": float(venv.ret_rms.mean), "ret_var": float(venv.ret_rms.var),
                "ret_count": float(venv.ret_rms.count)}
        if not venv.norm_obs:  # rewards only: VecNormalize then has no obs_rms at all
            pass
        elif isinstance(venv.obs_rms, dict):  # Dict observations: one RunningMeanStd per normalized key
            norm["obs_keys"] = {key: {"mean": rms.mean.tolist(), "var": rms.var.tolist(), "count": float(rms.count)}
                                for key, rms in venv.obs_rms.items()}
        else:
            norm.update(obs_mean=venv.obs_rms.mean.tolist(), obs_var=venv.obs_rms.var.tolist(),
                        obs_count=float(venv.obs_rms.count))
    save_file(tensors, str(target / "weights.safetensors"))
    state = {"format": "vla-bench-online-checkpoint/1", "algo": algo, "step": int(model.num_timesteps),
             "optimizers": meta, "vecnormalize": norm, "run": run}
    (target / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True, default=str), encoding="utf-8")


def load_online_checkpoint(directory: Path, algo: str, model: PPO | SAC, venv: VecEnv) -> int:
    from safetensors.torch import load_file  # noqa: PLC0415
    from stable_baselines3 import SAC  # noqa: PLC0415
    from stable_baselines3.common.vec_env import VecNormalize  # noqa: PLC0415

    state = json.loads((directory / "checkpoint" / "state.json").read_text(encoding="utf-8"))
    tensors = load_file(str(directory / "checkpoint" / "weights.safetensors"))
    model.policy.load_state_dict({k[len("policy."):]: v for k, v in tensors.items() if k.startswith("policy.")})
    for name, optimizer in _optimizers(algo, model).items():
        load_optimizer(name, optimizer, tensors, state["optimizers"][name])
    if "extra.log_ent_coef" in tensors:
        assert isinstance(model, SAC) and model.log_ent_coef is not None  # only SAC saves one
        with torch.no_grad():
            model.log_ent_coef.copy_(tensors["extra.log_ent_coef"])
    norm = state.get("vecnormalize") or {}
    if norm and isinstance(venv, VecNormalize):
        obs_rms = venv.obs_rms if venv.norm_obs else None
        if obs_rms is None:  # rewards only: nothing of the observations was saved
            pass
        elif isinstance(obs_rms, dict):  # Dict observations: saved per normalized key ("obs_keys")
            for key, saved in norm["obs_keys"].items():
                rms = obs_rms[key]
                rms.mean, rms.var, rms.count = np.array(saved["mean"]), np.array(saved["var"]), saved["count"]
        else:
            obs_rms.mean, obs_rms.var = np.array(norm["obs_mean"]), np.array(norm["obs_var"])
            obs_rms.count = norm["obs_count"]
        venv.ret_rms.mean, venv.ret_rms.var, venv.ret_rms.count = norm["ret_mean"], norm["ret_var"], norm["ret_count"]
    model.num_timesteps = int(state["step"])
    return int(state["step"])
