"""Offline data as tensors (:func:`transition_arrays`, :func:`behavior_arrays` with action chunks) and uniform
replay sampling from a seeded ``torch.Generator`` whose state is checkpointed (:class:`TensorReplay`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from vla_bench.datasets import OfflineDataset
from vla_bench.training.networks import ObsNormalizer


def transition_arrays(dataset: OfflineDataset, normalizer: ObsNormalizer) -> dict[str, torch.Tensor]:
    """D4RL ``qlearning_dataset`` transitions as float32 tensors, observations normalized."""
    t = dataset.qlearning()
    with torch.no_grad():
        return {
            "obs": normalizer(torch.as_tensor(t.observations)),
            "actions": torch.as_tensor(t.actions),
            "rewards": torch.as_tensor(t.rewards, dtype=torch.float32),
            "next_obs": normalizer(torch.as_tensor(t.next_observations)),
            "dones": torch.as_tensor(t.terminals, dtype=torch.float32),
        }


def behavior_arrays(dataset: OfflineDataset, normalizer: ObsNormalizer, chunk: int = 1) -> dict[str, torch.Tensor]:
    """Every row's observation with the next ``chunk`` actions of its episode (``[N, chunk, A]``) and a mask
    that is 0 past the episode's end (those slots repeat the last action and are left out of the loss)."""
    n = len(dataset)
    chunks = np.empty((n, chunk, dataset.action_dim), dtype=np.float32)
    mask = np.zeros((n, chunk), dtype=np.float32)
    for start, stop in dataset.episode_bounds():
        rows = np.arange(start, stop)
        for k in range(chunk):
            target = rows + k
            mask[rows, k] = target < stop
            chunks[rows, k] = dataset.actions[np.minimum(target, stop - 1)]
    with torch.no_grad():
        return {"obs": normalizer(torch.as_tensor(dataset.observations)), "actions": torch.as_tensor(chunks),
                "mask": torch.as_tensor(mask)}


def reward_scale(dataset: OfflineDataset, target_range: float = 1000.0) -> float:
    """IQL's locomotion reward normalization: ``target_range / (max episode return - min episode return)``
    (Kostrikov et al. 2022, appendix B; CORL iql.py ``modify_reward``, max_episode_steps = 1000)."""
    returns = [episode.total_return for episode in dataset.episodes()]
    spread = max(returns) - min(returns) if returns else 0.0
    return target_range / spread if spread > 1e-8 else 1.0


class TensorReplay:
    """Uniform sampling (with replacement) of rows of a dict of tensors, from a seeded generator whose state
    is checkpointed."""

    def __init__(self, arrays: Mapping[str, torch.Tensor], seed: int) -> None:
        sizes = {len(v) for v in arrays.values()}
        if len(sizes) != 1:
            raise ValueError(f"arrays of different lengths {sorted(sizes)}")
        self.arrays = dict(arrays)
        self.size = sizes.pop()
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.size

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        index = torch.randint(0, self.size, (batch_size,), generator=self.generator)
        return {key: value[index] for key, value in self.arrays.items()}
