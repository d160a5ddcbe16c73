"""GRPO: group-relative policy optimization for embodied tasks (``vla-bench train grpo``).

DeepSeekMath's formulation (Shao et al. 2024, arXiv 2402.03300, eq. 3): for each question sample a group of
G outputs from the old policy, give every token of output i the advantage ``(R_i - mean(R)) / std(R)`` of
its outcome reward within the group, and maximize the clipped importance-ratio surrogate minus
``beta * KL(pi || pi_ref)`` (the unbiased ``k3`` estimator ``pi_ref/pi - log(pi_ref/pi) - 1``), each output's
tokens averaged (``1/|o_i|``), no value function. RLinf's embodied variant maps question -> initial state:
the G rollouts of a group all start from the same episode seed (the adapter's reset is a function of it),
the outcome reward is the episode's return (or its success), and every step of a rollout shares its
advantage. ``normalize_std=false`` keeps only the group-mean baseline (Dr. GRPO, Liu et al. 2025).

Hand-written: Stable-Baselines3 and sb3-contrib have no GRPO. Policy: a Gaussian MLP with a state-independent
log-std (SB3's PPO policy layout); observations normalized with running statistics updated before each
iteration's update and exported inside the ONNX graph; the exported policy acts with the mean.

Defaults: clip 0.2 and KL coefficient 0.04 (DeepSeekMath section 4.2: beta 0.04), group size 8, 8 epochs
over each iteration's batch and Adam 3e-4 (RLinf's frankasim PPO recipe: update_epoch 8, lr 3e-4), the
reference policy is the initial one (``ref_every`` > 0 refreshes it every K iterations, as DeepSeekMath's
iterative GRPO resets it).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from vla_bench.training.algorithm import OfflineAlgorithm, Problem
from vla_bench.training.networks import mlp


@dataclass
class GRPOConfig:
    group_size: int = 8
    """G rollouts per initial state"""
    groups: int = 4
    """initial states (episode seeds) per iteration"""
    outcome: str = "return"
    """outcome reward of a rollout: return (sum of rewards) or success (1 if the protocol's rule fired)"""
    normalize_std: bool = True
    """divide by the group's reward std (DeepSeekMath); false: mean baseline only (Dr. GRPO)"""
    clip: float = 0.2
    """ratio clip epsilon (DeepSeekMath / PPO: 0.2)"""
    kl_coef: float = 0.04
    """beta of the KL penalty to the reference policy (DeepSeekMath: 0.04)"""
    ref_every: int = 0
    """refresh the reference policy every K iterations (0: keep the initial policy)"""
    epochs: int = 8
    """full-batch gradient steps per iteration (RLinf frankasim: update_epoch 8)"""
    lr: float = 3e-4
    """Adam learning rate (RLinf frankasim: 3e-4)"""
    max_grad_norm: float = 0.5
    """gradient clip (RLinf frankasim clip_grad 0.5)"""
    hidden: int = 64
    """units of the 2 hidden layers (SB3 MlpPolicy: 64)"""
    log_std_init: float = 0.0
    """initial log-std of the Gaussian (SB3: 0.0)"""


class RunningNormalizer(nn.Module):
    """``clip((x - mean) / sqrt(var + 1e-8), -10, 10)`` with running statistics (SB3 VecNormalize's rule)."""

    mean: torch.Tensor
    var: torch.Tensor
    count: torch.Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("var", torch.ones(dim))
        self.register_buffer("count", torch.tensor(1e-4, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        batch_mean, batch_var, n = x.mean(0), x.var(0, correction=0), x.shape[0]
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += (delta * n / total).float()
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.var.copy_((m2 / total).float())
        self.count.copy_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp((x - self.mean) / torch.sqrt(self.var + 1e-8), -10.0, 10.0)


class GaussianActor(nn.Module):
    """Normalized observation -> action mean; a learned state-independent log-std."""

    def __init__(self, problem: Problem, hidden: int, log_std_init: float) -> None:
        super().__init__()
        self.net = mlp(problem.obs_dim, problem.action_dim, hidden, 2)
        self.log_std = nn.Parameter(torch.full((problem.action_dim,), float(log_std_init)))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(obs)
        return out

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        dist = torch.distributions.Normal(self.net(obs), self.log_std.exp())
        log_prob: torch.Tensor = dist.log_prob(action)
        return log_prob.sum(-1)


def group_advantages(outcomes: NDArray[np.float64], group_size: int, *, normalize_std: bool) -> NDArray[np.float64]:
    """``R_i - mean(group)`` (``/ (std(group) + 1e-8)``) for rewards laid out group after group."""
    grouped = np.asarray(outcomes, dtype=np.float64).reshape(-1, group_size)
    centered = grouped - grouped.mean(1, keepdims=True)
    if normalize_std:
        centered = centered / (grouped.std(1, keepdims=True) + 1e-8)
    out: NDArray[np.float64] = centered.reshape(-1)
    return out


class GRPO(OfflineAlgorithm):
    """The update half of GRPO (rollouts are the driver's, :mod:`.grpo_train`); an :class:`OfflineAlgorithm`
    so that checkpoints go through the same safetensors plumbing."""

    name: ClassVar[str] = "grpo"

    def __init__(self, config: GRPOConfig, problem: Problem) -> None:
        if config.group_size < 2:
            raise ValueError("GRPO needs group_size >= 2 (the advantage is relative to the group)")
        if config.outcome not in ("return", "success"):
            raise ValueError(f"GRPO outcome {config.outcome!r}: use 'return' or 'success'")
        super().__init__(config, problem)
        self.normalizer = RunningNormalizer(problem.obs_dim)
        self.actor = GaussianActor(problem, config.hidden, config.log_std_init)
        self.reference = copy.deepcopy(self.actor).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.actor.parameters(), lr=config.lr)

    def update(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        """``epochs`` gradient steps on one iteration's rollouts: ``obs`` (raw), ``actions``, ``advantages``
        and ``weights`` (``1 / (|o_i| * number of rollouts)``: each rollout's steps averaged, then rollouts)."""
        c = self.config
        obs = self.normalizer(batch["obs"])
        with torch.no_grad():
            old = self.actor.log_prob(obs, batch["actions"])
            ref = self.reference.log_prob(obs, batch["actions"])
        adv, weights = batch["advantages"], batch["weights"]
        stats: dict[str, float] = {}
        for _ in range(c.epochs):
            logp = self.actor.log_prob(obs, batch["actions"])
            ratio = torch.exp(logp - old)
            surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - c.clip, 1 + c.clip) * adv)
            log_ref_ratio = ref - logp
            kl = torch.exp(log_ref_ratio) - log_ref_ratio - 1.0  # k3, DeepSeekMath eq. 4
            loss = -((surrogate - c.kl_coef * kl) * weights).sum()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.actor.parameters(), c.max_grad_norm)
            self.optimizer.step()
            stats = {"loss": loss.item(), "kl": float((kl.detach() * weights).sum()),
                     "clip_fraction": float(((ratio - 1).abs() > c.clip).float().mean())}
        if c.ref_every and step % c.ref_every == 0:
            self.reference.load_state_dict(self.actor.state_dict())
        return {**stats, "std": float(self.actor.log_std.exp().mean())}

    @torch.no_grad()
    def sample(self, state: NDArray[np.float32], generator: torch.Generator) -> NDArray[np.float32]:
        obs = self.normalizer(torch.as_tensor(state, dtype=torch.float32).unsqueeze(0))
        mean = self.actor(obs)[0]
        noise = torch.randn(mean.shape, generator=generator)
        action: NDArray[np.float32] = (mean + noise * self.actor.log_std.exp()).numpy()
        return action

    def policy(self) -> nn.Module:
        return self.actor

    def modules(self) -> dict[str, nn.Module]:
        return {"actor": self.actor, "reference": self.reference, "normalizer": self.normalizer}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"actor": self.optimizer}

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {}
