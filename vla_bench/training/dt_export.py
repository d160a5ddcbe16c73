"""Export of a trained Decision Transformer: ``model.onnx`` (the context -> next action, normalization inside)
and ``reward.onnx`` (``r(s, a, s')`` on raw states), plus the manifest's ``context`` entry that tells
:func:`vla_bench.agents.exported.load_exported` to run them through
:class:`vla_bench.agents.dt_policy.ContextPolicy`. The same wrapper runs the torch modules for the
periodic evaluations during training (:func:`torch_context_policy`)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from vla_bench.agents.digest import file_sha256
from vla_bench.agents.dt_policy import INPUTS, KIND, REWARD_INPUTS, ContextPolicy, Feeds
from vla_bench.training.export import OPSET

if TYPE_CHECKING:
    from vla_bench.training.dt import DT

REWARD_FILE = "reward.onnx"


class ContextGraph(nn.Module):
    """Raw context -> the action at its last position."""

    def __init__(self, normalizer: nn.Module, model: nn.Module) -> None:
        super().__init__()
        self.normalizer, self.model = normalizer, model

    def forward(self, states: torch.Tensor, actions: torch.Tensor, returns_to_go: torch.Tensor,
                timesteps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        normalized = self.normalizer(states) * mask.unsqueeze(-1)  # padding stays exactly 0, as in training
        predicted: torch.Tensor = self.model(normalized, actions, returns_to_go, timesteps, mask)
        return predicted[:, -1]


class RewardGraph(nn.Module):
    """Raw ``(state, action, next_state)`` -> predicted reward ``[B]``."""

    def __init__(self, normalizer: nn.Module, reward: nn.Module) -> None:
        super().__init__()
        self.normalizer, self.reward = normalizer, reward

    def forward(self, state: torch.Tensor, action: torch.Tensor, next_state: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.reward(self.normalizer(state), action, self.normalizer(next_state))
        return out


def _torch_call(module: nn.Module, names: tuple[str, ...]) -> Any:
    @torch.no_grad()
    def call(feeds: Feeds) -> NDArray[np.float32]:
        module.eval()
        out: NDArray[np.float32] = module(*(torch.as_tensor(feeds[n]) for n in names)).numpy()
        return out

    return call


class _TorchContextFactory:
    """Fresh per-episode :class:`ContextPolicy` objects over the live torch modules (a factory: the harness
    calls it once per episode slot)."""

    def __init__(self, algorithm: DT, normalizer: nn.Module) -> None:
        self.act = _torch_call(ContextGraph(normalizer, algorithm.model), INPUTS)
        self.reward = _torch_call(RewardGraph(normalizer, algorithm.reward), REWARD_INPUTS)
        self.seq_len, self.action_dim = algorithm.config.seq_len, algorithm.problem.action_dim
        self.target = algorithm.target_return

    def __call__(self) -> ContextPolicy:
        return ContextPolicy(self.act, self.reward, seq_len=self.seq_len, action_dim=self.action_dim,
                             target_return=self.target)


def torch_context_policy(algorithm: DT, normalizer: nn.Module) -> Any:
    return _TorchContextFactory(algorithm, normalizer)


def _export(module: nn.Module, args: tuple[torch.Tensor, ...], names: tuple[str, ...], path: Path,
            dynamic: dict[str, dict[int, str]]) -> None:
    partial = path.with_name(path.name + ".partial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice; it needs no onnxscript
        torch.onnx.export(module.eval(), args, str(partial), input_names=list(names), output_names=["action"
                          if "states" in names else "reward"], dynamic_axes=dynamic, opset_version=OPSET,
                          dynamo=False)
    partial.replace(path)


def export_dt(algorithm: DT, normalizer: nn.Module, directory: Path) -> dict[str, Any]:
    """Write ``model.onnx`` and ``reward.onnx``; returns the manifest's extra entries."""
    k, s, a = algorithm.config.seq_len, algorithm.problem.obs_dim, algorithm.problem.action_dim
    directory.mkdir(parents=True, exist_ok=True)
    example = (torch.zeros(1, k, s), torch.zeros(1, k, a), torch.zeros(1, k), torch.zeros(1, k, dtype=torch.long),
               torch.ones(1, k))
    batch = {name: {0: "batch"} for name in (*INPUTS, "action")}
    _export(ContextGraph(normalizer, algorithm.model), example, INPUTS, directory / "model.onnx", batch)
    reward_batch = {name: {0: "batch"} for name in (*REWARD_INPUTS, "reward")}
    _export(RewardGraph(normalizer, algorithm.reward), (torch.zeros(1, s), torch.zeros(1, a), torch.zeros(1, s)),
            REWARD_INPUTS, directory / REWARD_FILE, reward_batch)
    algorithm.model.train()
    return {"context": {"kind": KIND, "seq_len": k, "action_dim": a, "target_return": algorithm.target_return,
                        "episode_len": algorithm.config.episode_len, "inputs": list(INPUTS),
                        "reward_model": {"file": REWARD_FILE, "sha256": file_sha256(directory / REWARD_FILE),
                                         "inputs": list(REWARD_INPUTS)}}}
