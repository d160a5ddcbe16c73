"""Checkpoints as safetensors + JSON, never pickle: weights, optimizer moments, scheduler state and RNG states,
so a resumed run equals an uninterrupted one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypedDict

import torch

from vla_bench.training.algorithm import OfflineAlgorithm
from vla_bench.training.replay import TensorReplay

CHECKPOINT_DIR = "checkpoint"


class OptimizerMeta(TypedDict):
    """An optimizer's state besides its tensors, as JSON in ``state.json`` (``optimizers.<name>``)."""

    param_groups: list[dict[str, object]]  # torch's param_groups (lr, betas, ... and the param indices)
    scalars: dict[str, dict[str, object]]  # param index -> non-tensor slots (e.g. Adam's step as a float)


def optimizer_tensors(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], OptimizerMeta]:
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, object]] = {}
    for index, slots in state["state"].items():
        for slot, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{name}.{index}.{slot}"] = value.detach().clone().contiguous()
            else:
                scalars.setdefault(str(index), {})[slot] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def load_optimizer(name: str, optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor],
                    meta: OptimizerMeta) -> None:
    state: dict[int, dict[str, object]] = {}
    prefix = f"optim.{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            index, slot = key[len(prefix):].split(".", 1)
            state.setdefault(int(index), {})[slot] = value
    for index, slots in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(slots)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(directory: Path, algorithm: OfflineAlgorithm, replay: TensorReplay, step: int,
                    info: Mapping[str, object]) -> Path:
    """Write ``directory/checkpoint/{weights.safetensors,state.json}`` atomically (the old one stays valid
    until the new one is complete)."""
    from safetensors.torch import save_file  # noqa: PLC0415

    tensors: dict[str, torch.Tensor] = {}
    for name, module in algorithm.modules().items():
        for key, value in module.state_dict().items():
            tensors[f"module.{name}.{key}"] = value.detach().clone().contiguous()
    for key, value in algorithm.extra_state().items():
        tensors[f"extra.{key}"] = value.detach().clone().contiguous()
    optim_meta: dict[str, OptimizerMeta] = {}
    for name, optimizer in algorithm.optimizers().items():
        more, optim_meta[name] = optimizer_tensors(name, optimizer)
        tensors.update(more)
    tensors["rng.replay"] = replay.generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    state = {
        "format": "vla-bench-trainer-checkpoint/1",
        "algo": algorithm.name,
        "step": step,
        "config": asdict(algorithm.config),
        "problem": asdict(algorithm.problem),
        "optimizers": optim_meta,
        "schedulers": {name: s.state_dict() for name, s in algorithm.schedulers().items()},
        **dict(info),
    }
    target = directory / CHECKPOINT_DIR
    partial = directory / (CHECKPOINT_DIR + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(partial / "weights.safetensors"))
    (partial / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True, default=str), encoding="utf-8")
    old = directory / (CHECKPOINT_DIR + ".old")
    if target.exists():
        target.rename(old)
    partial.rename(target)
    if old.exists():
        for file in old.iterdir():
            file.unlink()
        old.rmdir()
    return target


def read_checkpoint_state(directory: Path) -> dict[str, Any] | None:
    path = directory / CHECKPOINT_DIR / "state.json"
    if not path.is_file():
        return None
    state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return state


def load_checkpoint(directory: Path, algorithm: OfflineAlgorithm, replay: TensorReplay) -> dict[str, Any]:
    """Restore weights, optimizer and scheduler states and RNG states saved by :func:`save_checkpoint`."""
    from safetensors.torch import load_file  # noqa: PLC0415

    state = read_checkpoint_state(directory)
    if state is None:
        raise FileNotFoundError(f"no checkpoint in {directory}")
    tensors = load_file(str(directory / CHECKPOINT_DIR / "weights.safetensors"))
    for name, module in algorithm.modules().items():
        prefix = f"module.{name}."
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    with torch.no_grad():
        for key, value in algorithm.extra_state().items():
            value.copy_(tensors[f"extra.{key}"])
    for name, optimizer in algorithm.optimizers().items():
        load_optimizer(name, optimizer, tensors, state["optimizers"][name])
    for name, scheduler in algorithm.schedulers().items():
        scheduler.load_state_dict(state["schedulers"][name])
    replay.generator.set_state(tensors["rng.replay"])
    torch.set_rng_state(tensors["rng.torch"])
    return state
