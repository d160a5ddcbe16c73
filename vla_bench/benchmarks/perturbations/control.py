"""Perturbations between the policy and the simulator: observation noise, action noise, action delay."""

from __future__ import annotations

from collections import deque

import numpy as np
from numpy.typing import NDArray

from vla_bench.benchmarks.perturbations.rng import perturbation_rng
from vla_bench.spec.perturbation import PerturbationLevel

CONTROL_FIELDS = frozenset({"obs_noise", "action_noise", "action_delay"})


class ControlPerturbation:
    """Per-episode state: the delay line and the noise generators of one episode."""

    def __init__(self, level: PerturbationLevel, seed: int, axis: str, low: NDArray[np.float32],
                 high: NDArray[np.float32]) -> None:
        self.level = level
        self._low, self._high = low, high
        self._obs_rng = perturbation_rng(seed, axis, "obs_noise")
        self._action_rng = perturbation_rng(seed, axis, "action_noise")
        # Before the first delayed action arrives, the robot is sent the centre of the action box (no motion
        # for symmetric delta-action spaces).
        neutral = ((low + high) / 2.0).astype(np.float32)
        self._queue: deque[NDArray[np.float32]] = deque([neutral] * (level.action_delay or 0))

    def action(self, action: NDArray[np.float32]) -> NDArray[np.float32]:
        if self.level.action_noise:
            half_range = (self._high - self._low) / 2.0
            noise = self._action_rng.normal(0.0, 1.0, action.shape) * self.level.action_noise * half_range
            action = np.clip(action + noise, self._low, self._high).astype(np.float32)
        if self.level.action_delay:
            self._queue.append(action)
            action = self._queue.popleft()
        return action

    def state(self, state: NDArray[np.float32]) -> NDArray[np.float32]:
        if not self.level.obs_noise:
            return state
        return (state + self._obs_rng.normal(0.0, self.level.obs_noise, state.shape)).astype(np.float32)
