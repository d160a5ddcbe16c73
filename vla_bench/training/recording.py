"""Record every transition an online trainer's environment produces, as a D4RL-format dataset.

D4RL's ``medium-replay`` datasets are "all samples in the replay buffer observed during training until the
policy reaches the medium level" (Fu et al. 2020, §5; REFERENCE.md §1). :class:`TransitionRecorder` wraps the
raw environment (below any normalization, so observations, actions and rewards are the environment's own) and
keeps each step in order (row i is training step i + 1); :func:`write_recorded` writes them all. Cutting them
at the medium snapshot's step is how ``scripts/make_baselines.py`` makes ``medium-replay``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from vla_bench.datasets.d4rl_format import OfflineDataset
from vla_bench.datasets.d4rl_hdf5 import write_d4rl


class TransitionRecorder(gym.Wrapper[Any, Any, Any, Any]):
    """Keeps (obs, action, reward, next_obs, terminal, timeout) of every step, in episode order."""

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__(env)
        self._obs: NDArray[np.float32] | None = None
        self.columns: dict[str, list[NDArray[np.float32] | float | bool]] = {
            k: [] for k in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")}

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._close_open_episode()
        self._obs = np.asarray(obs, dtype=np.float32)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._obs is not None:
            low, high = self.action_space.low, self.action_space.high  # type: ignore[attr-defined]
            self.columns["observations"].append(self._obs)
            self.columns["actions"].append(np.clip(np.asarray(action, dtype=np.float32), low, high))
            self.columns["rewards"].append(float(reward))
            self.columns["next_observations"].append(np.asarray(obs, dtype=np.float32))
            self.columns["terminals"].append(bool(terminated))
            self.columns["timeouts"].append(bool(truncated and not terminated))
        self._obs = np.asarray(obs, dtype=np.float32)
        return obs, float(reward), terminated, truncated, info

    def _close_open_episode(self) -> None:
        """An episode cut short by a reset (or the end of training) ends with a timeout, as in D4RL."""
        if self.columns["terminals"] and not (self.columns["terminals"][-1] or self.columns["timeouts"][-1]):
            self.columns["timeouts"][-1] = True

    def __len__(self) -> int:
        return len(self.columns["rewards"])

    def dataset(self) -> OfflineDataset:
        """Every recorded step, the last episode closed as a timeout if training ended mid-episode."""
        self._close_open_episode()
        return OfflineDataset.from_arrays({k: np.asarray(v) for k, v in self.columns.items()}, source="<recorded>")


def write_recorded(recorder: TransitionRecorder, path: str | Path, *, metadata: Mapping[str, object]) -> Path:
    return write_d4rl(path, recorder.dataset(), metadata={**metadata, "kind": "training-rollouts",
                                                               "official": False})
