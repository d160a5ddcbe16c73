"""Networks of the reference trainers: observation normalization that goes into the exported graph
(:class:`ObsNormalizer`), :func:`mlp`, the tanh-squashed action box (:class:`SquashedAction`), clipped double Q
(:class:`DoubleQ`) and target networks (:func:`soft_update`, :func:`frozen_copy`)."""

from __future__ import annotations

import math

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from vla_bench.training.algorithm import Problem

OBS_STD_EPS = 1e-3  # CORL's compute_mean_std(states, eps=1e-3) (algorithms/offline/td3_bc.py, iql.py)


class ObsNormalizer(nn.Module):
    """``(x - mean) / std`` with the dataset's statistics as buffers: saved with the weights, and part of
    the exported ONNX graph, so an exported policy takes raw observations."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone().float())
        self.register_buffer("std", std.detach().clone().float())

    @classmethod
    def fit(cls, observations: NDArray[np.float32], *, enabled: bool = True) -> ObsNormalizer:
        obs = torch.as_tensor(observations, dtype=torch.float64)
        if not enabled:
            return cls(torch.zeros(obs.shape[1]), torch.ones(obs.shape[1]))
        return cls(obs.mean(0).float(), (obs.std(0, correction=0) + OBS_STD_EPS).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std



def mlp(in_dim: int, out_dim: int, hidden: int = 256, layers: int = 2, *, layer_norm: bool = False,
        dropout: float | None = None, orthogonal: bool = False) -> nn.Sequential:
    """``layers`` hidden layers of ``hidden`` ReLU units, then a linear output."""
    parts: list[nn.Module] = []
    size = in_dim
    for _ in range(layers):
        parts.append(nn.Linear(size, hidden))
        if layer_norm:
            parts.append(nn.LayerNorm(hidden))
        parts.append(nn.ReLU())
        if dropout:
            parts.append(nn.Dropout(dropout))
        size = hidden
    parts.append(nn.Linear(size, out_dim))
    if orthogonal:  # CORL cql.py init_module_weights: orthogonal hidden layers (gain sqrt 2), small last layer
        for module in parts[:-1]:
            if isinstance(module, nn.Linear):
                nn.init.orthogonal_(module.weight, gain=math.sqrt(2))
                nn.init.zeros_(module.bias)
        last = parts[-1]
        assert isinstance(last, nn.Linear)
        nn.init.xavier_uniform_(last.weight, gain=1e-2)
        nn.init.zeros_(last.bias)
    return nn.Sequential(*parts)


class SquashedAction(nn.Module):
    """Maps an unbounded vector to the action box with tanh: ``low + (tanh(x) + 1) / 2 * (high - low)``."""

    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, problem: Problem) -> None:
        super().__init__()
        low, high = problem.box()
        self.register_buffer("low", low.float())
        self.register_buffer("high", high.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.low + (torch.tanh(x) + 1.0) * 0.5 * (self.high - self.low)

    @property
    def center(self) -> torch.Tensor:
        return (self.high + self.low) / 2

    @property
    def half_range(self) -> torch.Tensor:
        return (self.high - self.low) / 2


class DoubleQ(nn.Module):
    """Two Q networks ``Q(s, a)`` (clipped double Q, Fujimoto et al. 2018), evaluated together."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: int = 256, layers: int = 2,
                 orthogonal: bool = False) -> None:
        super().__init__()
        self.q1 = mlp(obs_dim + action_dim, 1, hidden, layers, orthogonal=orthogonal)
        self.q2 = mlp(obs_dim + action_dim, 1, hidden, layers, orthogonal=orthogonal)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([obs, action], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """Polyak averaging ``target <- (1 - tau) target + tau source`` (parameters only; buffers are copied)."""
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        t.mul_(1.0 - tau).add_(s, alpha=tau)
    for tb, sb in zip(target.buffers(), source.buffers(), strict=True):
        tb.copy_(sb)


def frozen_copy(module: nn.Module) -> nn.Module:
    """A target network: a deep copy that takes no gradients (rebuilt from the state dict, not pickled)."""
    import copy  # noqa: PLC0415

    target = copy.deepcopy(module)
    target.requires_grad_(False)
    return target
