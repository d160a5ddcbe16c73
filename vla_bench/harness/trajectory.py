"""Per-step data of an episode, kept when a run collects a dataset (``vla-bench collect``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from vla_bench.spec import EpisodeRecord, Observation


@dataclass
class Trajectory:
    """``observations[t]`` is seen before ``actions[t]``; ``next_observations[t]`` after it (D4RL's layout)."""

    observations: list[NDArray[np.float32]] = field(default_factory=list)
    actions: list[NDArray[np.float32]] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    next_observations: list[NDArray[np.float32]] = field(default_factory=list)
    terminals: list[bool] = field(default_factory=list)
    timeouts: list[bool] = field(default_factory=list)

    def observe(self, observation: Observation) -> None:
        if "state" not in observation:
            raise ValueError("collecting a dataset needs state observations")
        if self.actions:
            self.next_observations.append(np.array(observation["state"], dtype=np.float32))  # copies: envs reuse
        self.observations.append(np.array(observation["state"], dtype=np.float32))

    def __len__(self) -> int:
        return len(self.actions)


TrajectorySink = Callable[[EpisodeRecord, Trajectory], None]


def action_noise_rng(seed: int) -> np.random.Generator:
    """The exploration-noise stream of one episode: derived from its planned seed, so noisy collection is
    as reproducible and schedule-independent as evaluation (distinct from the policy's own stream)."""
    return np.random.default_rng([seed, 0x6E6F697365])  # "noise"
