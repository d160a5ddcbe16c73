"""Implicit Q-Learning (Kostrikov, Nair & Levine, "Offline Reinforcement Learning with Implicit
Q-Learning", ICLR 2022).

Never queries Q on actions outside the data: ``V`` is fit as an upper expectile (``expectile``) of
``Q(s, a)`` over the dataset's actions, ``Q`` by TD to ``r + gamma V(s')``, and the policy by
advantage-weighted regression with weights ``exp(beta * (Q - V))`` clipped at 100.

Defaults: the paper's locomotion settings as in CORL ``algorithms/offline/iql.py`` TrainConfig:
expectile 0.7, beta (inverse temperature) 3.0, discount 0.99, tau 0.005, Adam 3e-4 for V, Q and actor
with a cosine decay of the actor's rate over the run, batch 256, 2x256 ReLU networks, Gaussian actor with
a state-independent log-std and tanh mean, normalized states, rewards scaled by 1000 / (max - min episode
return) (paper appendix B; for AntMaze the paper uses r - 1, expectile 0.9, beta 10 instead).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from vla_bench.training.algorithm import OfflineAlgorithm, Problem
from vla_bench.training.networks import DoubleQ, SquashedAction, frozen_copy, mlp, soft_update

EXP_ADV_MAX = 100.0  # CORL iql.py EXP_ADV_MAX; official implementation clips at 100 too
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # CORL iql.py GaussianPolicy


@dataclass
class IQLConfig:
    expectile: float = 0.7
    """expectile of Q that V fits (paper, locomotion: 0.7)"""
    beta: float = 3.0
    """inverse temperature of the advantage weights (paper, locomotion: 3.0)"""
    discount: float = 0.99
    """gamma (paper: 0.99)"""
    tau: float = 0.005
    """target Q Polyak rate (paper: 0.005)"""
    actor_lr: float = 3e-4
    """Adam rate of the actor, cosine-decayed over the run (paper: 3e-4)"""
    critic_lr: float = 3e-4
    """Adam rate of Q (paper: 3e-4)"""
    value_lr: float = 3e-4
    """Adam rate of V (paper: 3e-4)"""
    deterministic_actor: bool = False
    """a deterministic actor (weighted MSE) instead of the Gaussian (CORL iql_deterministic: False)"""
    hidden: int = 256
    """units per hidden layer (paper: 256)"""
    layers: int = 2
    """hidden layers (paper: 2)"""
    batch_size: int = 256
    """transitions per gradient step (paper: 256)"""
    normalize_obs: bool = True
    """normalize states with the dataset's mean/std (CORL: True)"""
    normalize_reward: bool = True
    """scale rewards by 1000 / (max - min episode return) (paper appendix B; CORL: True)"""
    schedule_steps: int = 1_000_000
    """length of the actor's cosine schedule; the driver sets it to --steps"""


class IQLActor(nn.Module):
    def __init__(self, problem: Problem, config: IQLConfig) -> None:
        super().__init__()
        self.net = mlp(problem.obs_dim, problem.action_dim, config.hidden, config.layers)
        self.squash = SquashedAction(problem)
        self.log_std = nn.Parameter(torch.zeros(problem.action_dim))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        action: torch.Tensor = self.squash(self.net(obs))
        return action

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        mean = self(obs)
        std = self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()
        log_prob: torch.Tensor = torch.distributions.Normal(mean, std).log_prob(action)
        return log_prob.sum(-1)


def expectile_loss(diff: torch.Tensor, expectile: float) -> torch.Tensor:
    """Asymmetric squared loss ``|expectile - 1(diff < 0)| * diff^2`` (IQL eq. 5)."""
    weight = torch.where(diff > 0, expectile, 1.0 - expectile)
    return (weight * diff**2).mean()


class IQL(OfflineAlgorithm):
    name: ClassVar[str] = "iql"
    config_class: ClassVar[type[IQLConfig]] = IQLConfig

    def __init__(self, config: IQLConfig, problem: Problem) -> None:
        super().__init__(config, problem)
        self.actor = IQLActor(problem, config)
        self.critic = DoubleQ(problem.obs_dim, problem.action_dim, config.hidden, config.layers)
        self.critic_target = frozen_copy(self.critic)
        self.value = mlp(problem.obs_dim, 1, config.hidden, config.layers)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)
        self.value_optimizer = torch.optim.Adam(self.value.parameters(), lr=config.value_lr)
        # cosine decay to 0 over the run (CORL: CosineAnnealingLR(T_max=max_timesteps)), in closed form so that a
        # run extended on resume (--steps raised) keeps decaying instead of cycling back up
        horizon = max(config.schedule_steps, 1)
        self.actor_schedule = torch.optim.lr_scheduler.LambdaLR(
            self.actor_optimizer, lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, horizon) / horizon)))

    def update(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        c = self.config
        obs, action, reward, next_obs, done = (batch[k] for k in ("obs", "actions", "rewards", "next_obs", "dones"))
        with torch.no_grad():
            target_q = torch.min(*self.critic_target(obs, action))
            next_v = self.value(next_obs).squeeze(-1)
        # V: upper expectile of the target Q over the data's actions
        v = self.value(obs).squeeze(-1)
        advantage = target_q - v
        value_loss = expectile_loss(advantage, c.expectile)
        self.value_optimizer.zero_grad(set_to_none=True)
        value_loss.backward()
        self.value_optimizer.step()
        # Q: TD to r + gamma V(s')
        target = reward + c.discount * (1.0 - done) * next_v
        q1, q2 = self.critic(obs, action)
        critic_loss = (F.mse_loss(q1, target) + F.mse_loss(q2, target)) / 2
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()
        soft_update(self.critic_target, self.critic, c.tau)
        # actor: advantage-weighted regression
        weights = torch.exp(c.beta * advantage.detach()).clamp(max=EXP_ADV_MAX)
        if c.deterministic_actor:
            per_sample = ((self.actor(obs) - action) ** 2).sum(-1)
        else:
            per_sample = -self.actor.log_prob(obs, action)
        actor_loss = (weights * per_sample).mean()
        self.actor_optimizer.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_optimizer.step()
        self.actor_schedule.step()
        return {"value_loss": value_loss.item(), "critic_loss": critic_loss.item(), "actor_loss": actor_loss.item(),
                "advantage_mean": advantage.mean().item()}

    def policy(self) -> nn.Module:
        return self.actor

    def modules(self) -> dict[str, nn.Module]:
        return {"actor": self.actor, "critic": self.critic, "critic_target": self.critic_target, "value": self.value}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.actor_optimizer, "critic": self.critic_optimizer, "value": self.value_optimizer}

    def schedulers(self) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
        return {"actor": self.actor_schedule}
