"""TD3+BC (Fujimoto & Gu, "A Minimalist Approach to Offline Reinforcement Learning", NeurIPS 2021).

TD3 with clipped double Q, target policy smoothing and delayed actor updates, plus a behavior-cloning term
in the actor loss: ``-lambda * Q(s, pi(s)) + (pi(s) - a)^2`` with ``lambda = alpha / mean|Q|``.

Defaults: the paper's Table / the official ``sfujim/TD3_BC`` main.py, as in CORL
``algorithms/offline/td3_bc.py`` TrainConfig: alpha 2.5, policy noise 0.2, noise clip 0.5 (both times the
action scale), actor every 2 critic steps, discount 0.99, tau 0.005, Adam 3e-4 for both, batch 256,
2x256 ReLU networks, normalized states, raw rewards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from vla_bench.training.algorithm import OfflineAlgorithm, Problem
from vla_bench.training.networks import DoubleQ, SquashedAction, frozen_copy, mlp, soft_update


@dataclass
class TD3BCConfig:
    alpha: float = 2.5
    """weight of the Q term against BC (paper: 2.5)"""
    policy_noise: float = 0.2
    """std of target policy smoothing noise, times the action half-range (paper: 0.2)"""
    noise_clip: float = 0.5
    """clip of that noise, times the action half-range (paper: 0.5)"""
    policy_freq: int = 2
    """critic updates per actor update (paper: 2)"""
    discount: float = 0.99
    """gamma (paper: 0.99)"""
    tau: float = 0.005
    """target network Polyak rate (paper: 0.005)"""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor (paper: 3e-4)"""
    critic_lr: float = 3e-4
    """Adam learning rate of the critics (paper: 3e-4)"""
    hidden: int = 256
    """units per hidden layer (paper: 256)"""
    layers: int = 2
    """hidden layers (paper: 2)"""
    batch_size: int = 256
    """transitions per gradient step (paper: 256)"""
    normalize_obs: bool = True
    """normalize states with the dataset's mean/std (paper: True)"""


class DeterministicActor(nn.Module):
    def __init__(self, problem: Problem, hidden: int, layers: int) -> None:
        super().__init__()
        self.net = mlp(problem.obs_dim, problem.action_dim, hidden, layers)
        self.squash = SquashedAction(problem)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        action: torch.Tensor = self.squash(self.net(obs))
        return action


class TD3BC(OfflineAlgorithm):
    name: ClassVar[str] = "td3bc"
    config_class: ClassVar[type[TD3BCConfig]] = TD3BCConfig

    def __init__(self, config: TD3BCConfig, problem: Problem) -> None:
        super().__init__(config, problem)
        self.actor = DeterministicActor(problem, config.hidden, config.layers)
        self.actor_target = frozen_copy(self.actor)
        self.critic = DoubleQ(problem.obs_dim, problem.action_dim, config.hidden, config.layers)
        self.critic_target = frozen_copy(self.critic)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)
        self._last_actor: dict[str, float] = {"actor_loss": float("nan"), "bc_mse": float("nan")}

    def update(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        c = self.config
        obs, action, reward, next_obs, done = (batch[k] for k in ("obs", "actions", "rewards", "next_obs", "dones"))
        scale = self.actor.squash.half_range
        with torch.no_grad():  # target policy smoothing (TD3)
            noise = (torch.randn_like(action) * c.policy_noise * scale).clamp(-c.noise_clip * scale,
                                                                              c.noise_clip * scale)
            low, high = self.actor.squash.low, self.actor.squash.high
            next_action = torch.maximum(torch.minimum(self.actor_target(next_obs) + noise, high), low)
            target_q = torch.min(*self.critic_target(next_obs, next_action))
            target = reward + c.discount * (1.0 - done) * target_q
        q1, q2 = self.critic(obs, action)
        critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()

        if step % c.policy_freq == 0:  # delayed actor and target updates
            pi = self.actor(obs)
            q = self.critic(obs, pi)[0]
            lam = c.alpha / q.abs().mean().detach()
            bc = F.mse_loss(pi, action)
            actor_loss = -lam * q.mean() + bc
            self.actor_optimizer.zero_grad(set_to_none=True)
            actor_loss.backward()
            self.actor_optimizer.step()
            soft_update(self.critic_target, self.critic, c.tau)
            soft_update(self.actor_target, self.actor, c.tau)
            self._last_actor = {"actor_loss": actor_loss.item(), "bc_mse": bc.item()}
        return {"critic_loss": critic_loss.item(), "q_mean": q1.mean().item(), **self._last_actor}

    def policy(self) -> nn.Module:
        return self.actor

    def modules(self) -> dict[str, nn.Module]:
        return {"actor": self.actor, "actor_target": self.actor_target, "critic": self.critic,
                "critic_target": self.critic_target}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.actor_optimizer, "critic": self.critic_optimizer}
