"""GAIL (Ho & Ermon, "Generative Adversarial Imitation Learning", NeurIPS 2016): the pieces.

A discriminator ``D(s, a)`` learns to tell expert transitions from the generator's (binary cross-entropy on
logits, "expert is high"); the generator - Stable-Baselines3's PPO - maximizes the learned reward
``-log(1 - D(s, a)) = softplus(logit)`` (the ``imitation`` library's GAIL reward), never the environment's.

Why hand-written: the ``imitation`` library (HumanCompatibleAI, 1.0.1 on PyPI) pins ``gymnasium~=0.29`` and
``stable-baselines3~=2.2``; this stack runs gymnasium 1.4 and SB3 2.9 (``pip install --dry-run imitation``
would downgrade both). Its defaults are kept: 2 discriminator updates per round
(``n_disc_updates_per_round``), one round = one PPO rollout (``gen_train_timesteps = n_steps * n_envs``),
generator samples from that round only (``gen_replay_buffer_capacity = gen_train_timesteps``), discriminator
= ``BasicRewardNet`` on (state, action) with 32x32 ReLU layers, Adam with torch's default lr 1e-3.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from numpy.typing import NDArray
from torch import nn

from vla_bench.training.networks import mlp
from vla_bench.training.online import PPOConfig


@dataclass
class GAILConfig(PPOConfig):
    """The generator is SB3's PPO with ``vla-bench train ppo``'s settings (its config's fields and defaults;
    ``normalize_reward`` applies VecNormalize to the learned reward), plus the discriminator's."""

    # the discriminator: imitation's defaults
    disc_hidden: int = 32
    """units of its 2 hidden layers (imitation BasicRewardNet: (32, 32))"""
    disc_lr: float = 1e-3
    """Adam learning rate (imitation: torch's default, 1e-3)"""
    disc_updates: int = 2
    """discriminator steps per round (imitation n_disc_updates_per_round: 2)"""
    demo_batch_size: int = 0
    """expert (and as many generator) transitions per discriminator step; 0: n_steps"""


class Discriminator(nn.Module):
    """``(state, action)`` -> logit that the transition is the expert's; inputs standardized with the
    demonstrations' statistics (fixed buffers, saved with the weights)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, obs_dim: int, action_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = mlp(obs_dim + action_dim, 1, hidden, 2)
        self.register_buffer("mean", torch.zeros(obs_dim + action_dim))
        self.register_buffer("std", torch.ones(obs_dim + action_dim))

    def fit(self, states: NDArray[np.float32], actions: NDArray[np.float32]) -> None:
        x = torch.as_tensor(np.concatenate([states, actions], axis=1), dtype=torch.float64)
        with torch.no_grad():
            self.mean.copy_(x.mean(0).float())
            self.std.copy_((x.std(0, correction=0) + 1e-3).float())

    def forward(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        x = (torch.cat([states, actions], dim=-1) - self.mean) / self.std
        out: torch.Tensor = self.net(x).squeeze(-1)
        return out

    @torch.no_grad()
    def reward(self, states: NDArray[np.float32], actions: NDArray[np.float32]) -> NDArray[np.float32]:
        """GAIL's generator reward ``-log(1 - D) = softplus(logit)``."""
        logits = self(torch.as_tensor(states, dtype=torch.float32), torch.as_tensor(actions, dtype=torch.float32))
        out: NDArray[np.float32] = F.softplus(logits).numpy().astype(np.float32)
        return out


def discriminator_step(disc: Discriminator, optimizer: torch.optim.Optimizer, expert: dict[str, torch.Tensor],
                       generated: dict[str, torch.Tensor]) -> dict[str, float]:
    """One BCE step on a balanced batch (expert labelled 1, generator 0)."""
    states = torch.cat([expert["obs"], generated["obs"]])
    actions = torch.cat([expert["actions"], generated["actions"]])
    labels = torch.cat([torch.ones(len(expert["obs"])), torch.zeros(len(generated["obs"]))])
    logits = disc(states, actions)
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        predicted = logits > 0
        n = len(expert["obs"])
        return {"disc_loss": loss.item(), "disc_acc_expert": float(predicted[:n].float().mean()),
                "disc_acc_gen": float((~predicted[n:]).float().mean())}


def reward_wrapper(venv: Any, disc: Discriminator, *, deferred: bool = False) -> Any:
    """Wrap ``venv`` (raw observations) so that the generator is paid GAIL rewards; ``.transitions`` holds the
    (state, action) pairs since the last ``clear()``.

    ``deferred``: ``step`` returns zeros and :func:`deferred_reward_buffer`'s buffer adds the whole rollout's
    rewards in one batched forward pass before PPO computes its advantages (the discriminator does not change
    within a rollout, so the rewards are the per-step ones). Nothing between this wrapper and PPO's buffer may
    read the reward, except :func:`deferred_normalize`'s VecNormalize, which normalizes them at the buffer."""
    from stable_baselines3.common.vec_env import VecEnvWrapper  # noqa: PLC0415

    class _Wrapper(VecEnvWrapper):
        def __init__(self) -> None:
            super().__init__(venv)
            self.last_obs: Any = None
            self.actions: NDArray[np.float32] | None = None
            self.states: list[NDArray[np.float32]] = []
            self.taken: list[NDArray[np.float32]] = []
            self.ends: list[NDArray[np.bool_]] = []
            self.paid = 0  # steps whose deferred rewards the buffer has taken

        def reset(self) -> Any:
            self.last_obs = self.venv.reset()
            return self.last_obs

        def step_async(self, actions: NDArray[np.float32]) -> None:
            self.actions = np.asarray(actions, dtype=np.float32)
            self.venv.step_async(actions)

        def step_wait(self) -> Any:
            obs, _env_reward, dones, infos = self.venv.step_wait()
            assert self.last_obs is not None and self.actions is not None
            state = np.asarray(self.last_obs, np.float32)
            rewards = np.zeros(len(state), np.float32) if deferred else disc.reward(state, self.actions)
            self.states.append(state)
            self.taken.append(self.actions)
            self.ends.append(np.asarray(dones, dtype=bool))
            self.last_obs = obs
            return obs, rewards, dones, infos

        def clear(self) -> None:
            self.states, self.taken, self.ends, self.paid = [], [], [], 0

        def unpaid(self) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
            """Rewards of the steps since the last call, ``(steps, n_envs)``, in one forward pass, and which of
            those steps ended an episode."""
            states, actions = self.states[self.paid:], self.taken[self.paid:]
            ends = np.stack(self.ends[self.paid:])
            self.paid = len(self.states)
            rewards = disc.reward(np.concatenate(states), np.concatenate(actions)).reshape(len(states), -1)
            return rewards, ends

        def transitions(self) -> dict[str, torch.Tensor]:
            return {"obs": torch.as_tensor(np.concatenate(self.states)),
                    "actions": torch.as_tensor(np.concatenate(self.taken))}

    return _Wrapper()


def deferred_normalize(venv: Any, *, norm_obs: bool, gamma: float) -> Any:
    """``VecNormalize(venv, norm_obs, norm_reward=True, gamma)`` over a deferred :func:`reward_wrapper`: while
    stepping, its reward statistics stay as they are (the steps' rewards are still zeros); at the rollout's end
    :func:`deferred_reward_buffer` hands it the rollout's rewards and episode ends, and ``normalize_rollout``
    replays VecNormalize's own per-step sequence on them - discounted return ``returns * gamma + r`` (zeroed
    where an episode ended), ``ret_rms`` updated with it, ``r / sqrt(ret_rms.var + epsilon)`` clipped to
    ``clip_reward`` - through VecNormalize's own methods, so statistics and rewards are the per-step path's."""
    from stable_baselines3.common.vec_env import VecNormalize  # noqa: PLC0415

    class _Normalize(VecNormalize):
        def step_wait(self) -> Any:
            # the discounted return is advanced (and reset at episode ends) when the rewards are known
            kept, self.returns = self.returns, np.zeros(self.num_envs)
            try:
                return super().step_wait()
            finally:
                self.returns = kept

        def _update_reward(self, reward: NDArray[np.float64]) -> None:
            pass  # while stepping: the reward is a placeholder zero

        def normalize_rollout(self, rewards: NDArray[np.float32], ends: NDArray[np.bool_]) -> NDArray[np.float32]:
            """``rewards``/``ends`` ``(steps, n_envs)`` in step order -> normalized rewards, as ``step_wait``
            would have returned them one step at a time."""
            out = np.empty(rewards.shape, dtype=np.float32)
            for t in range(len(rewards)):
                if self.training:
                    VecNormalize._update_reward(self, rewards[t])
                out[t] = self.normalize_reward(rewards[t])
                self.returns[ends[t]] = 0
            return out

    return _Normalize(venv, norm_obs=norm_obs, norm_reward=True, gamma=gamma)


def deferred_reward_buffer(wrapper: Any, normalizer: Any = None) -> type[Any]:
    """SB3 ``RolloutBuffer`` (PPO's ``rollout_buffer_class``) that adds ``wrapper``'s deferred rewards (through
    ``normalizer.normalize_rollout`` if given: :func:`deferred_normalize`) to what the rollout stored (zeros,
    plus SB3's ``gamma * V(terminal)`` at truncations) before computing advantages."""
    from stable_baselines3.common.buffers import RolloutBuffer  # noqa: PLC0415

    class _Buffer(RolloutBuffer):
        def compute_returns_and_advantage(self, last_values: torch.Tensor, dones: NDArray[np.bool_]) -> None:
            rewards, ends = wrapper.unpaid()
            self.rewards += rewards if normalizer is None else normalizer.normalize_rollout(rewards, ends)
            super().compute_returns_and_advantage(last_values, dones)

    return _Buffer


@contextmanager
def unchecked_distributions() -> Iterator[None]:
    """``torch.distributions`` without argument checks while inside: SB3 builds a ``Normal`` at every rollout
    step and minibatch, and the checks (finite parameters, samples in the support) were ~6% of a GAIL round
    here; they compute nothing the algorithm uses. The previous default is restored on the way out."""
    from torch.distributions import Distribution  # noqa: PLC0415

    before = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(before)
