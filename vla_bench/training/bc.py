"""Behavior cloning: regress the dataset's actions from its observations.

Two heads: ``deterministic`` (MSE to the action, as CORL's ``any_percent_bc.py``) and ``gaussian``
(negative log-likelihood of a diagonal Gaussian with a state-dependent std; the exported policy acts with
its mean). ``chunk > 1`` predicts the next ``chunk`` actions at once (action chunking, Zhao et al. 2023,
ACT); the harness executes a chunk open-loop. Slots past an episode's end are masked out of the loss.

Defaults: CORL ``algorithms/offline/any_percent_bc.py`` TrainConfig (batch 256, Adam lr 3e-4, 2x256 ReLU
MLP, tanh output scaled to the action range, normalized states).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from vla_bench.training.algorithm import OfflineAlgorithm, Problem
from vla_bench.training.networks import SquashedAction, mlp

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


@dataclass
class BCConfig:
    head: str = "deterministic"
    """deterministic (MSE) or gaussian (NLL; acts with the mean)"""
    chunk: int = 1
    """actions predicted per observation (1 = no chunking)"""
    hidden: int = 256
    """units per hidden layer (CORL: 256)"""
    layers: int = 2
    """hidden layers (CORL: 2)"""
    lr: float = 3e-4
    """Adam learning rate (CORL any_percent_bc.py: 3e-4)"""
    batch_size: int = 256
    """transitions per gradient step (CORL: 256)"""
    normalize_obs: bool = True
    """normalize observations with the dataset's mean/std (CORL: True)"""


class BCActor(nn.Module):
    """Normalized observation -> action (``[B, A]``) or chunk (``[B, chunk, A]``); with a Gaussian head it
    also gives the log-std of each output."""

    def __init__(self, config: BCConfig, problem: Problem) -> None:
        super().__init__()
        self.chunk, self.action_dim, self.gaussian = config.chunk, problem.action_dim, config.head == "gaussian"
        outputs = config.chunk * problem.action_dim
        self.trunk = mlp(problem.obs_dim, outputs * (2 if self.gaussian else 1), config.hidden, config.layers)
        self.squash = SquashedAction(problem)

    def distribution(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = self.trunk(obs)
        log_std = None
        if self.gaussian:
            out, raw = out.chunk(2, dim=-1)
            log_std = raw.clamp(LOG_STD_MIN, LOG_STD_MAX).unflatten(-1, (self.chunk, self.action_dim))
        mean = self.squash(out.unflatten(-1, (self.chunk, self.action_dim)))
        return mean, log_std

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        mean, _ = self.distribution(obs)
        return mean[:, 0] if self.chunk == 1 else mean


class BC(OfflineAlgorithm):
    name: ClassVar[str] = "bc"
    config_class: ClassVar[type[BCConfig]] = BCConfig
    data: ClassVar[str] = "behavior"

    def __init__(self, config: BCConfig, problem: Problem) -> None:
        if config.head not in ("deterministic", "gaussian"):
            raise ValueError(f"BC head {config.head!r}: use 'deterministic' or 'gaussian'")
        if config.chunk < 1:
            raise ValueError("BC chunk must be >= 1")
        super().__init__(config, problem)
        self.actor = BCActor(config, problem)
        self.optimizer = torch.optim.Adam(self.actor.parameters(), lr=config.lr)

    @property
    def chunk(self) -> int:
        return int(self.config.chunk)

    def update(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        mean, log_std = self.actor.distribution(batch["obs"])
        target, mask = batch["actions"], batch["mask"].unsqueeze(-1)
        if log_std is None:
            per_value = F.mse_loss(mean, target, reduction="none")
        else:  # Gaussian negative log-likelihood, constant dropped
            per_value = 0.5 * ((target - mean) / log_std.exp()) ** 2 + log_std
        loss = (per_value * mask).sum() / (mask.sum() * self.problem.action_dim).clamp_min(1.0)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            mse = ((mean - target) ** 2 * mask).sum() / (mask.sum() * self.problem.action_dim).clamp_min(1.0)
        return {"loss": loss.item(), "action_mse": mse.item()}

    def policy(self) -> nn.Module:
        return self.actor

    def modules(self) -> dict[str, nn.Module]:
        return {"actor": self.actor}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.optimizer}
