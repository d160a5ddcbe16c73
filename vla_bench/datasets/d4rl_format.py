"""D4RL-format offline datasets: the in-memory form, episodes, Q-learning transitions.

The layout is D4RL's (``d4rl/offline_env.py`` ``get_dataset``): one row per environment step, in episode
order, of ``observations`` [N, obs_dim], ``actions`` [N, action_dim], ``rewards`` [N], ``terminals`` [N]
(the step ended the episode in a terminal state) and ``timeouts`` [N] (the step ended it by a time limit);
``next_observations`` [N, obs_dim] is optional (D4RL's own files do not have it; files written here do).
Extra groups (``infos/*``, ``metadata/*``, ``episodes/*``) are allowed; the reader loads ``episodes/*`` and
the file's attributes and ignores the rest.

Validation lives in :mod:`vla_bench.datasets.validation`, HDF5 reading and writing in
:mod:`vla_bench.datasets.d4rl_hdf5`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vla_bench.datasets.validation import check_sizes, checked_arrays


@dataclass
class Episode:
    """One episode's rows of a dataset (views, not copies). ``start`` is the row of its first step."""

    start: int
    observations: NDArray[np.float32]
    actions: NDArray[np.float32]
    rewards: NDArray[np.float32]
    terminals: NDArray[np.bool_]
    timeouts: NDArray[np.bool_]
    next_observations: NDArray[np.float32] | None = None

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def terminated(self) -> bool:
        return bool(self.terminals[-1])

    @property
    def truncated(self) -> bool:
        return bool(self.timeouts[-1])

    @property
    def complete(self) -> bool:
        """False only for trailing rows that no terminal or timeout closes (an interrupted recording)."""
        return self.terminated or self.truncated

    @property
    def total_return(self) -> float:
        return float(np.sum(self.rewards, dtype=np.float64))


@dataclass
class Transitions:
    """``(s, a, r, s', done)`` rows as D4RL's ``qlearning_dataset`` returns them (``terminals`` = done)."""

    observations: NDArray[np.float32]
    actions: NDArray[np.float32]
    next_observations: NDArray[np.float32]
    rewards: NDArray[np.float32]
    terminals: NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.rewards)

    def as_dict(self) -> dict[str, NDArray[np.float32] | NDArray[np.bool_]]:
        return {"observations": self.observations, "actions": self.actions,
                "next_observations": self.next_observations, "rewards": self.rewards, "terminals": self.terminals}


@dataclass
class OfflineDataset:
    observations: NDArray[np.float32]
    actions: NDArray[np.float32]
    rewards: NDArray[np.float32]
    terminals: NDArray[np.bool_]
    timeouts: NDArray[np.bool_]
    next_observations: NDArray[np.float32] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    episode_table: dict[str, NDArray[np.generic]] = field(default_factory=dict)  # per-episode columns, where stored
    source: str = "<memory>"

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, ArrayLike | None], *, source: str = "<memory>",
                    metadata: Mapping[str, object] | None = None) -> OfflineDataset:
        """Validate D4RL-layout arrays (a missing ``timeouts`` means none) and convert them to canonical dtypes."""
        checked = checked_arrays(dict(arrays), source)
        n = len(checked["observations"])
        timeouts = checked.get("timeouts")
        return cls(
            observations=checked["observations"].astype(np.float32, copy=False),
            actions=checked["actions"].astype(np.float32, copy=False),
            rewards=checked["rewards"].astype(np.float32, copy=False),
            terminals=checked["terminals"].astype(bool),
            timeouts=timeouts.astype(bool) if timeouts is not None else np.zeros(n, dtype=bool),
            next_observations=(checked["next_observations"].astype(np.float32, copy=False)
                               if "next_observations" in checked else None),
            metadata=dict(metadata or {}),
            source=source,
        )

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def obs_dim(self) -> int:
        return int(self.observations.shape[1])

    @property
    def action_dim(self) -> int:
        return int(self.actions.shape[1])

    def arrays(self) -> dict[str, NDArray[np.float32] | NDArray[np.bool_]]:
        data: dict[str, NDArray[np.float32] | NDArray[np.bool_]] = {
            "observations": self.observations, "actions": self.actions, "rewards": self.rewards,
            "terminals": self.terminals, "timeouts": self.timeouts}
        if self.next_observations is not None:
            data["next_observations"] = self.next_observations
        return data

    def validate(self, *, expected_obs_dim: int | None = None, expected_action_dim: int | None = None,
                 expected_for: str | None = None) -> None:
        """Raise :class:`DatasetError` unless the arrays are consistent, finite and of the expected sizes."""
        checked_arrays(self.arrays(), self.source)
        check_sizes(self.obs_dim, self.action_dim, source=self.source, expected_obs_dim=expected_obs_dim,
                    expected_action_dim=expected_action_dim, expected_for=expected_for)

    def episode_bounds(self) -> list[tuple[int, int]]:
        """``(start, stop)`` row ranges of the episodes, split after every step with ``terminals | timeouts``;
        trailing rows that nothing closes form a last, incomplete episode."""
        ends = np.flatnonzero(self.terminals | self.timeouts) + 1
        starts = np.concatenate([[0], ends])
        stops = np.concatenate([ends, [len(self)]])
        return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True) if b > a]

    def episodes(self) -> Iterator[Episode]:
        for start, stop in self.episode_bounds():
            rows = slice(start, stop)
            yield Episode(start=start, observations=self.observations[rows], actions=self.actions[rows],
                          rewards=self.rewards[rows], terminals=self.terminals[rows], timeouts=self.timeouts[rows],
                          next_observations=None if self.next_observations is None else self.next_observations[rows])

    def qlearning(self, *, terminate_on_end: bool = False) -> Transitions:
        return qlearning_dataset(self, terminate_on_end=terminate_on_end)


def qlearning_dataset(dataset: OfflineDataset, *, terminate_on_end: bool = False) -> Transitions:
    """Transitions as D4RL's ``d4rl.qlearning_dataset`` defines them (``d4rl/__init__.py``).

    D4RL's rule: transition ``i`` is ``(obs[i], act[i], rew[i], obs[i+1], terminals[i])`` for ``i < N-1``; a
    step with ``timeouts[i]`` set is dropped unless ``terminate_on_end`` (its next observation belongs to the
    next episode), and ``terminals`` is passed through as ``done``. Where the file stores
    ``next_observations`` (files written by vla-bench do), transition ``i`` uses ``next_observations[i]``
    instead, which is exact also for terminal steps and lets the last row count (D4RL's shifted
    ``obs[i+1]`` is the next episode's first observation there; ``done`` masks it either way).
    """
    n = len(dataset)
    stored = dataset.next_observations is not None
    count = n if stored else max(n - 1, 0)
    keep = np.ones(count, dtype=bool)
    if not terminate_on_end:
        keep &= ~dataset.timeouts[:count]
    rows = np.flatnonzero(keep)
    if dataset.next_observations is not None:
        next_obs = dataset.next_observations[rows]
    else:
        next_obs = dataset.observations[rows + 1]
    return Transitions(observations=dataset.observations[rows], actions=dataset.actions[rows],
                       next_observations=next_obs, rewards=dataset.rewards[rows], terminals=dataset.terminals[rows])
