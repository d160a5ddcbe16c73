"""Conservative Q-Learning (Kumar, Zhou, Tucker & Levine, "Conservative Q-Learning for Offline
Reinforcement Learning", NeurIPS 2020), the continuous-action CQL(H) variant on top of SAC.

The critics' TD loss gets a regularizer that pushes Q down on actions the data does not contain and up on
the data's: ``alpha_cql * (temp * logsumexp(Q(s, a~mu) / temp) - Q(s, a_data))``, where ``mu`` mixes
uniform random actions and the current policy's actions at ``s`` and ``s'`` with importance weights. The
actor is SAC's (tanh Gaussian, automatic entropy tuning), optionally behavior-cloned for the first
``bc_steps`` steps.

Defaults: CORL ``algorithms/offline/cql.py`` TrainConfig (itself following the authors' reference
``young-geng/CQL``): batch 256, discount 0.99, actor Adam 3e-5, critic Adam 3e-4, alpha (entropy) tuned to
a target entropy of -|A| with the actor's rate, Polyak 5e-3 every step, 10 sampled actions, importance
sampling on, no Lagrange tuning, cql_alpha 10, temperature 1, 3x256 ReLU networks with orthogonal init,
normalized states, raw rewards, no BC warm-up (``bc_steps = 0``; checked against CORL's TrainConfig at commit
1254f0b). Each step evaluates both critics on 30 sampled actions per state, so it costs ~20x a TD3+BC step.
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

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


@dataclass
class CQLConfig:
    cql_alpha: float = 10.0
    """weight of the conservative regularizer (CORL cql.py: 10.0; the paper's locomotion runs used 5.0)"""
    cql_n_actions: int = 10
    """actions sampled per state for the logsumexp (CORL/paper: 10)"""
    cql_temp: float = 1.0
    """temperature of the logsumexp (CORL: 1.0)"""
    cql_importance_sample: bool = True
    """importance-weight the sampled actions by their density (CQL(H), CORL: True)"""
    bc_steps: int = 0
    """steps of behavior cloning for the actor before the SAC objective (CORL cql.py: 0, an AntMaze option)"""
    discount: float = 0.99
    """gamma (CORL: 0.99)"""
    tau: float = 5e-3
    """target Q Polyak rate, every step (CORL soft_target_update_rate: 5e-3)"""
    actor_lr: float = 3e-5
    """Adam rate of the actor and of the entropy temperature (CORL policy_lr: 3e-5)"""
    critic_lr: float = 3e-4
    """Adam rate of the critics (CORL qf_lr: 3e-4)"""
    hidden: int = 256
    """units per hidden layer (CORL: 256)"""
    layers: int = 3
    """hidden layers of actor and critics (CORL q_n_hidden_layers: 3)"""
    orthogonal_init: bool = True
    """orthogonal initialization (CORL: True)"""
    batch_size: int = 256
    """transitions per gradient step (CORL: 256)"""
    normalize_obs: bool = True
    """normalize states with the dataset's mean/std (CORL: True)"""


class TanhGaussianActor(nn.Module):
    """SAC's actor: ``a = squash(u)``, ``u ~ N(mu(s), sigma(s))``; acts deterministically with ``squash(mu)``."""

    def __init__(self, problem: Problem, config: CQLConfig) -> None:
        super().__init__()
        self.net = mlp(problem.obs_dim, 2 * problem.action_dim, config.hidden, config.layers,
                       orthogonal=config.orthogonal_init)
        self.squash = SquashedAction(problem)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        mean, _ = self.net(obs).chunk(2, dim=-1)
        action: torch.Tensor = self.squash(mean)
        return action

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterized action and its log-density in the action box (tanh and scale corrected)."""
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()
        u = mean + std * torch.randn_like(mean)
        log_prob = torch.distributions.Normal(mean, std).log_prob(u).sum(-1)
        # d squash(u) / du = half_range * (1 - tanh(u)^2); the stable form of log(1 - tanh^2) is SAC's
        log_prob = log_prob - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        log_prob = log_prob - torch.log(self.squash.half_range).sum()
        return self.squash(u), log_prob

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Log-density of dataset actions (for the BC warm-up)."""
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()
        unit = ((action - self.squash.center) / self.squash.half_range).clamp(-1 + 1e-6, 1 - 1e-6)
        u = torch.atanh(unit)
        density: torch.Tensor = torch.distributions.Normal(mean, std).log_prob(u)
        log_prob = density.sum(-1)
        log_prob = log_prob - torch.log1p(-unit.pow(2)).sum(-1) - torch.log(self.squash.half_range).sum()
        return log_prob


class CQL(OfflineAlgorithm):
    name: ClassVar[str] = "cql"
    config_class: ClassVar[type[CQLConfig]] = CQLConfig

    def __init__(self, config: CQLConfig, problem: Problem) -> None:
        super().__init__(config, problem)
        self.actor = TanhGaussianActor(problem, config)
        self.critic = DoubleQ(problem.obs_dim, problem.action_dim, config.hidden, config.layers,
                              orthogonal=config.orthogonal_init)
        self.critic_target = frozen_copy(self.critic)
        self.log_alpha = torch.zeros(1, requires_grad=True)
        self.target_entropy = -float(problem.action_dim)  # SAC's heuristic (Haarnoja et al. 2018b)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)
        self.alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=config.actor_lr)

    def _policy_q(self, obs: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For each of ``n`` policy samples at ``obs``: Q1, Q2 at the sample and its log-density, ``[B, n]``."""
        batch = obs.shape[0]
        repeated = obs.repeat_interleave(n, dim=0)
        with torch.no_grad():
            actions, log_pi = self.actor.sample(repeated)
        q1, q2 = self.critic(repeated, actions)
        return q1.view(batch, n), q2.view(batch, n), log_pi.view(batch, n)

    def update(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        c = self.config
        obs, action, reward, next_obs, done = (batch[k] for k in ("obs", "actions", "rewards", "next_obs", "dones"))
        # --- actor and entropy temperature (SAC)
        new_action, log_pi = self.actor.sample(obs)
        alpha_loss = -(self.log_alpha * (log_pi + self.target_entropy).detach()).mean()
        alpha = self.log_alpha.exp().detach()
        if step <= c.bc_steps:
            actor_loss = (alpha * log_pi - self.actor.log_prob(obs, action)).mean()
        else:
            actor_loss = (alpha * log_pi - torch.min(*self.critic(obs, new_action))).mean()
        self.alpha_optimizer.zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.alpha_optimizer.step()
        self.actor_optimizer.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_optimizer.step()

        # --- critics: TD + conservative regularizer
        with torch.no_grad():
            next_action, _ = self.actor.sample(next_obs)
            target = reward + c.discount * (1.0 - done) * torch.min(*self.critic_target(next_obs, next_action))
        q1, q2 = self.critic(obs, action)
        td_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)

        batch_size, n = obs.shape[0], c.cql_n_actions
        low, high = self.actor.squash.low, self.actor.squash.high
        random_actions = low + (high - low) * torch.rand(batch_size * n, self.problem.action_dim)
        rq1, rq2 = self.critic(obs.repeat_interleave(n, dim=0), random_actions)
        rq1, rq2 = rq1.view(batch_size, n), rq2.view(batch_size, n)
        cq1, cq2, current_log_pi = self._policy_q(obs, n)
        nq1, nq2, next_log_pi = self._policy_q(next_obs, n)
        if c.cql_importance_sample:
            random_log_density = -torch.log(high - low).sum()
            cat1 = torch.cat([rq1 - random_log_density, nq1 - next_log_pi, cq1 - current_log_pi], dim=1)
            cat2 = torch.cat([rq2 - random_log_density, nq2 - next_log_pi, cq2 - current_log_pi], dim=1)
        else:
            cat1 = torch.cat([rq1, q1.unsqueeze(1), nq1, cq1], dim=1)
            cat2 = torch.cat([rq2, q2.unsqueeze(1), nq2, cq2], dim=1)
        gap1 = (torch.logsumexp(cat1 / c.cql_temp, dim=1) * c.cql_temp - q1).mean()
        gap2 = (torch.logsumexp(cat2 / c.cql_temp, dim=1) * c.cql_temp - q2).mean()
        critic_loss = td_loss + c.cql_alpha * (gap1 + gap2)
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()
        soft_update(self.critic_target, self.critic, c.tau)
        return {"critic_loss": critic_loss.item(), "td_loss": td_loss.item(), "cql_gap": ((gap1 + gap2) / 2).item(),
                "actor_loss": actor_loss.item(), "alpha": alpha.item(), "q_mean": q1.mean().item()}

    def policy(self) -> nn.Module:
        return self.actor

    def modules(self) -> dict[str, nn.Module]:
        return {"actor": self.actor, "critic": self.critic, "critic_target": self.critic_target}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.actor_optimizer, "critic": self.critic_optimizer, "alpha": self.alpha_optimizer}

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {"log_alpha": self.log_alpha}
