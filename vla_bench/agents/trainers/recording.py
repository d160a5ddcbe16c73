"""Record every transition an online trainer's environment produces, as a D4RL-format dataset.

D4RL's ``medium-replay`` datasets are "all samples in the replay buffer observed during training until the
policy reaches the medium level" (Fu et al. 2020, §5; REFERENCE.md §1). :class:`TransitionRecorder` wraps the
raw environment (below any normalization, so observations, actions and rewards are the environment's own) and
keeps each step with the trainer's step counter; :func:`write_recorded` writes them, optionally only the
steps up to a given training step, which is how ``medium-replay`` is cut at the medium snapshot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from vla_bench.datasets.d4rl_format import OfflineDataset, write_d4rl


class TransitionRecorder(gym.Wrapper[Any, Any, Any, Any]):
    """Keeps (obs, action, reward, next_obs, terminal, timeout) of every step, in episode order."""

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__(env)
        self._obs: np.ndarray | None = None
        self.columns: dict[str, list[Any]] = {k: [] for k in ("observations", "actions", "rewards",
                                                               "next_observations", "terminals", "timeouts")}

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

    def dataset(self, up_to: int | None = None) -> OfflineDataset:
        """The first ``up_to`` steps (all if None), the last one closed as a timeout if it was mid-episode."""
        self._close_open_episode()
        n = len(self) if up_to is None else min(up_to, len(self))
        arrays = {k: np.asarray(v[:n]) for k, v in self.columns.items()}
        if n and not (arrays["terminals"][-1] or arrays["timeouts"][-1]):
            arrays["timeouts"][-1] = True
        return OfflineDataset.from_arrays(arrays, source="<recorded>")


def write_recorded(recorder: TransitionRecorder, path: str | Path, *, metadata: dict[str, Any],
                   up_to: int | None = None) -> Path:
    return write_d4rl(path, recorder.dataset(up_to), metadata={**metadata, "kind": "training-rollouts",
                                                               "official": False})
