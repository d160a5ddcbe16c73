"""Decision Transformer (Chen et al., "Decision Transformer: Reinforcement Learning via Sequence Modeling",
NeurIPS 2021): a causal transformer over interleaved (return-to-go, state, action) tokens, trained to predict
each action from the tokens before it (MSE), and run by conditioning on the return one wants.

Data: each sample is the window of ``seq_len`` steps of one episode that *ends* at a row drawn uniformly
(the context the policy sees at that step), right-aligned and left-padded with a padding mask as in Chen et
al.'s reference code; sampling rows uniformly is the same as CORL's "episode with probability proportional to
its length, then a uniform position". Returns-to-go are undiscounted and scaled by ``reward_scale`` inside
the model, states are normalized inside it, so the exported graph takes raw values.

Acting needs the reward of each step to lower the return-to-go, and the harness gives policies observations
only (the policy interface). The trainer therefore also fits a small reward model ``r(s, a, s')`` to the
dataset's rewards and exports it beside the transformer; the policy wrapper
(:mod:`vla_bench.agents.dt_policy`) keeps the per-episode history and subtracts the predicted reward.

Defaults: CORL ``algorithms/offline/dt.py`` TrainConfig (embedding 128, 3 layers, 1 head, seq_len 20,
episode_len 1000, dropouts 0.1, AdamW lr 1e-4, betas (0.9, 0.999), weight decay 1e-4, grad clip 0.25,
batch 64, linear warm-up over 10k steps, reward_scale 1e-3); CORL's ``configs/offline/dt/hopper/*.yaml``
raise the learning rate to 8e-4 and the batch to 4096 and condition on return 3600.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from vla_bench.datasets import OfflineDataset
from vla_bench.training.algorithm import OfflineAlgorithm, Problem
from vla_bench.training.dropout import Dropout, dropout
from vla_bench.training.networks import SquashedAction, mlp
from vla_bench.training.precision import Precision, autocast, parse_precision


@dataclass
class DTConfig:
    seq_len: int = 20
    """context length K in steps (CORL: 20; Chen et al. MuJoCo: 20)"""
    embedding_dim: int = 128
    """token width (CORL: 128)"""
    num_layers: int = 3
    """transformer blocks (CORL: 3)"""
    num_heads: int = 1
    """attention heads (CORL: 1)"""
    attention_dropout: float = 0.1
    """(CORL: 0.1)"""
    residual_dropout: float = 0.1
    """(CORL: 0.1)"""
    embedding_dropout: float = 0.1
    """(CORL: 0.1)"""
    episode_len: int = 1000
    """largest timestep embedded; later steps reuse the last embedding (CORL: 1000)"""
    lr: float = 1e-4
    """AdamW learning rate (CORL default 1e-4; its Hopper configs 8e-4)"""
    weight_decay: float = 1e-4
    """AdamW weight decay (CORL: 1e-4)"""
    clip_grad: float = 0.25
    """gradient norm clip (CORL: 0.25)"""
    batch_size: int = 64
    """windows per gradient step (CORL default 64; its Hopper configs 4096)"""
    warmup_steps: int = 10_000
    """linear learning-rate warm-up (CORL: 10000)"""
    reward_scale: float = 1e-3
    """returns-to-go are multiplied by this before embedding (CORL: 0.001)"""
    target_return: float = 0.0
    """return the exported policy asks for; 0: the dataset's best episode return (CORL fixes one per
    environment: Hopper 3600)"""
    reward_hidden: int = 256
    """units of the 2 hidden layers of the reward model used to lower the return-to-go when acting"""
    normalize_obs: bool = True
    """normalize states with the dataset's mean/std (CORL: True)"""
    precision: Precision = "fp32"
    """fp32, or bf16: the transformer's forward pass under bfloat16 autocast, weights and optimizer in float32
    (:mod:`vla_bench.training.precision`; needs native bfloat16, e.g. a CPU with AMX; CORL trains in fp32)"""


class SelfAttention(nn.Module):
    """``nn.MultiheadAttention``'s self-attention (one fused QKV projection, same parameter names, so checkpoints
    written with it load); ``queries`` selects the tokens whose outputs are wanted (all of them by default), every
    token still serving as key and value. ``mask`` ``[B, 1, N, N]``: boolean (True: may attend) runs
    ``scaled_dot_product_attention`` (evaluation, export); additive (0 / -inf: training with attention dropout)
    runs the same softmax attention written out - scores ``mask + q k^T / sqrt(d)`` in one ``baddbmm``, softmax,
    :func:`dropout`, values - which is what SDPA's math kernel does on CPU when it must drop out."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)  # as nn.MultiheadAttention (the minGPT init skips it too)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, queries: slice | None = None) -> torch.Tensor:
        width = x.shape[-1]
        if queries is None:
            q, k, v = nn.functional.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        else:
            q = nn.functional.linear(x[:, queries], self.in_proj_weight[:width], self.in_proj_bias[:width])
            k, v = nn.functional.linear(x, self.in_proj_weight[width:], self.in_proj_bias[width:]).chunk(2, dim=-1)
            mask = mask[:, :, queries]

        def split(t: torch.Tensor) -> torch.Tensor:  # [B, N, D] -> [B, heads, N, D / heads]
            return t.reshape(*t.shape[:-1], self.heads, -1).transpose(1, 2)

        if mask.dtype == torch.bool:
            out = nn.functional.scaled_dot_product_attention(
                split(q), split(k), split(v), attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        else:
            batch, n_q, n = q.shape[0], q.shape[1], k.shape[1]

            def flat(t: torch.Tensor) -> torch.Tensor:  # [B, heads, N, d] -> [B * heads, N, d]
                return t.reshape(batch * self.heads, t.shape[2], t.shape[3])

            bias = mask.expand(batch, self.heads, n_q, n).reshape(batch * self.heads, n_q, n)
            qh, kh, vh = flat(split(q)), flat(split(k)), flat(split(v))
            scores = torch.baddbmm(bias, qh, kh.transpose(1, 2), alpha=1.0 / math.sqrt(qh.shape[-1]))
            weights = dropout(scores.softmax(dim=-1), self.dropout, self.training)
            out = torch.bmm(weights, vh).reshape(batch, self.heads, n_q, -1)
        projected: torch.Tensor = self.out_proj(out.transpose(1, 2).flatten(2))
        return projected


class Block(nn.Module):
    """Pre-LayerNorm transformer block (minGPT layout, as CORL's): attention, then a 4x GELU MLP."""

    def __init__(self, c: DTConfig) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(c.embedding_dim), nn.LayerNorm(c.embedding_dim)
        self.attention = SelfAttention(c.embedding_dim, c.num_heads, c.attention_dropout)
        self.drop = Dropout(c.residual_dropout)  # after the attention and after the MLP
        self.mlp = nn.Sequential(nn.Linear(c.embedding_dim, 4 * c.embedding_dim), nn.GELU(),
                                 nn.Linear(4 * c.embedding_dim, c.embedding_dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, queries: slice | None = None) -> torch.Tensor:
        """``mask`` ``[B, 1, N, N]``: which keys each query may see (:class:`SelfAttention`); with ``queries`` only
        those tokens come out."""
        attended = self.attention(self.norm1(x), mask, queries)
        x = self.drop.residual(x if queries is None else x[:, queries], attended)
        return self.drop.residual(x, self.mlp(self.norm2(x)))


class DecisionTransformer(nn.Module):
    """``(states [B,K,S] normalized, actions [B,K,A], rtg [B,K] raw, timesteps [B,K], mask [B,K])`` ->
    predicted actions ``[B,K,A]`` (each from the tokens up to its state)."""

    causal: torch.Tensor
    diagonal: torch.Tensor

    def __init__(self, c: DTConfig, problem: Problem) -> None:
        super().__init__()
        d = c.embedding_dim
        self.seq_len, self.episode_len, self.reward_scale = c.seq_len, c.episode_len, c.reward_scale
        self.heads = c.num_heads
        self.timestep = nn.Embedding(c.episode_len, d)
        self.state = nn.Linear(problem.obs_dim, d)
        self.action = nn.Linear(problem.action_dim, d)
        self.ret = nn.Linear(1, d)
        self.emb_norm, self.emb_drop = nn.LayerNorm(d), Dropout(c.embedding_dropout)
        self.attention_dropout = c.attention_dropout
        self.blocks = nn.ModuleList([Block(c) for _ in range(c.num_layers)])
        self.out_norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, problem.action_dim)
        self.squash = SquashedAction(problem)
        n = 3 * c.seq_len  # constant masks as buffers (not saved): ONNX Runtime has no boolean EyeLike
        self.register_buffer("causal", torch.tril(torch.ones(n, n, dtype=torch.bool)), persistent=False)
        self.register_buffer("diagonal", torch.eye(n, dtype=torch.bool), persistent=False)
        self.apply(_init_weights)

    def forward(self, states: torch.Tensor, actions: torch.Tensor, rtg: torch.Tensor, timesteps: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        batch, k = states.shape[0], states.shape[1]
        time = self.timestep(timesteps.clamp(0, self.episode_len - 1))
        tokens = torch.stack([self.ret((rtg * self.reward_scale).unsqueeze(-1)) + time,
                              self.state(states) + time, self.action(actions) + time], dim=2)
        # (R_0, s_0, a_0, R_1, ..., s_K-1): the last action token is left out - it comes after every state token,
        # so under the causal mask no output that is read depends on it (the same function, 1/3K less work)
        x = self.emb_drop(self.emb_norm(tokens.reshape(batch, 3 * k, -1)[:, :-1]))
        allowed = self.attention_mask(mask)[:, :-1, :-1].unsqueeze(1)
        if self.training and self.attention_dropout > 0:  # additive form, built once for all blocks
            allowed = torch.zeros(allowed.shape).masked_fill_(~allowed, -math.inf)
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            # only the state tokens' outputs are read, so the last block computes nothing else (a third of its
            # queries, MLP rows and dropout masks; the same function)
            x = block(x, allowed, slice(1, None, 3) if i == last else None)
        if last < 0:
            x = x[:, 1::3]
        predicted: torch.Tensor = self.squash(self.head(self.out_norm(x)))  # from the state tokens
        return predicted

    def attention_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Boolean mask ``[B, 3K, 3K]`` (True: may attend): causal, padded keys blocked; every token may see
        itself, so a padded query never has an empty row (no NaN that later layers could pick up through the
        values)."""
        valid = mask.repeat_interleave(3, dim=1) > 0.5  # [B, 3K]
        n = valid.shape[1]
        allowed: torch.Tensor = (self.causal[:n, :n].unsqueeze(0) & valid.unsqueeze(1)) | self.diagonal[:n, :n]
        return allowed


def _init_weights(module: nn.Module) -> None:
    # CORL dt.py / minGPT: N(0, 0.02) weights, zero biases, unit LayerNorms
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class RewardModel(nn.Module):
    """``r(s, a, s')`` on normalized states, predicting the standardized reward (statistics as buffers)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, problem: Problem, hidden: int) -> None:
        super().__init__()
        self.net = mlp(2 * problem.obs_dim + problem.action_dim, 1, hidden, 2)
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))

    def standardized(self, state: torch.Tensor, action: torch.Tensor, next_state: torch.Tensor) -> torch.Tensor:
        score: torch.Tensor = self.net(torch.cat([state, action, next_state], dim=-1))
        return score.squeeze(-1)

    def forward(self, state: torch.Tensor, action: torch.Tensor, next_state: torch.Tensor) -> torch.Tensor:
        return self.standardized(state, action, next_state) * self.std + self.mean


class DT(OfflineAlgorithm):
    name: ClassVar[str] = "dt"
    config_class: ClassVar[type[DTConfig]] = DTConfig
    data: ClassVar[str] = "sequence"

    def __init__(self, config: DTConfig, problem: Problem) -> None:
        if config.seq_len < 1 or config.embedding_dim % config.num_heads:
            raise ValueError("DT needs seq_len >= 1 and embedding_dim divisible by num_heads")
        super().__init__(config, problem)
        self.model = DecisionTransformer(config, problem)
        self.device = next(self.model.parameters()).device
        self.precision = parse_precision(config.precision)  # config_from_dict passes any string through
        self.reward = RewardModel(problem, config.reward_hidden)
        # torch's fused kernels: the same AdamW / Adam update, one call for all parameters instead of a loop
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, betas=(0.9, 0.999),
                                           weight_decay=config.weight_decay, fused=True)
        warmup = max(config.warmup_steps, 1)
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: min((s + 1) / warmup, 1.0))
        self.reward_optimizer = torch.optim.Adam(self.reward.parameters(), lr=3e-4, fused=True)
        self.target_return = float(config.target_return)
        self.tensors: dict[str, torch.Tensor] = {}

    def sequence_arrays(self, dataset: OfflineDataset, normalizer: nn.Module) -> dict[str, torch.Tensor]:
        """Keeps the dataset's rows (states normalized) with returns-to-go, timesteps and episode starts;
        returns the rows to sample window ends from."""
        n = len(dataset)
        rtg, timestep, start = np.zeros(n, np.float32), np.zeros(n, np.int64), np.zeros(n, np.int64)
        best = -math.inf
        for a, b in dataset.episode_bounds():
            rewards = dataset.rewards[a:b].astype(np.float64)
            rtg[a:b] = np.cumsum(rewards[::-1])[::-1]
            timestep[a:b], start[a:b] = np.arange(b - a), a
            best = max(best, float(rewards.sum()))
        with torch.no_grad():
            self.tensors = {"obs": normalizer(torch.as_tensor(dataset.observations)),
                            "actions": torch.as_tensor(dataset.actions), "rtg": torch.as_tensor(rtg),
                            "timestep": torch.as_tensor(timestep), "start": torch.as_tensor(start)}
            all_rewards = torch.as_tensor(dataset.rewards, dtype=torch.float32)
            self.reward.mean.copy_(all_rewards.mean())
            self.reward.std.copy_(all_rewards.std(correction=0).clamp_min(1e-6))
        self.tensors["rewards"] = all_rewards
        if self.target_return == 0.0:
            self.target_return = best
        return {"end": torch.arange(n)}

    def window(self, end: torch.Tensor) -> dict[str, torch.Tensor]:
        """The ``seq_len`` rows up to each ``end`` (right-aligned), positions before the episode start padded."""
        k = self.config.seq_len
        rows = end.unsqueeze(1) - torch.arange(k - 1, -1, -1)  # [B, K]
        valid = rows >= self.tensors["start"][end].unsqueeze(1)
        index = torch.where(valid, rows, end.unsqueeze(1))
        v = valid.float()
        t = self.tensors
        return {"states": t["obs"][index] * v.unsqueeze(-1), "actions": t["actions"][index] * v.unsqueeze(-1),
                "rtg": t["rtg"][index] * v, "timesteps": t["timestep"][index] * valid, "mask": v,
                "rewards": t["rewards"][index] * v}

    def update(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        w = self.window(batch["end"])
        self.model.train()
        with autocast(self.precision, self.device):
            predicted = self.model(w["states"], w["actions"], w["rtg"], w["timesteps"], w["mask"])
        per_step = ((predicted.float() - w["actions"]) ** 2).mean(-1)  # the loss in float32 under any precision
        loss = (per_step * w["mask"]).sum() / w["mask"].sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad, foreach=True)
        self.optimizer.step()
        self.schedule.step()
        # reward model on the window's consecutive pairs (s_t, a_t, s_t+1)
        pair = w["mask"][:, :-1] * w["mask"][:, 1:]
        target = (w["rewards"][:, :-1] - self.reward.mean) / self.reward.std
        guess = self.reward.standardized(w["states"][:, :-1], w["actions"][:, :-1], w["states"][:, 1:])
        reward_loss = (((guess - target) ** 2) * pair).sum() / pair.sum().clamp_min(1.0)
        self.reward_optimizer.zero_grad(set_to_none=True)
        reward_loss.backward()
        self.reward_optimizer.step()
        return {"action_mse": loss.item(), "reward_mse": reward_loss.item(), "lr": self.schedule.get_last_lr()[0]}

    def policy(self) -> nn.Module:
        return self.model

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "reward": self.reward}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model": self.optimizer, "reward": self.reward_optimizer}

    def schedulers(self) -> dict[str, Any]:
        return {"model": self.schedule}

    def acting_policy(self, normalizer: nn.Module) -> Any:
        from vla_bench.training.dt_export import torch_context_policy  # noqa: PLC0415

        return torch_context_policy(self, normalizer)

    def export(self, normalizer: nn.Module, directory: Path) -> dict[str, Any]:
        from vla_bench.training.dt_export import export_dt  # noqa: PLC0415

        return export_dt(self, normalizer, directory)
