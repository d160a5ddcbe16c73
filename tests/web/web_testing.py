"""Helpers of the web tests (imported as ``web.web_testing``; ``tests/`` is on ``sys.path``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from server.leaderboard_testing import Server

from vla_bench.spec import Observation, TaskSpec


class ConstantPolicy:
    """The same action every step: a third, distinct real entry for the boards."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.dim = 0

    def reset(self, task: TaskSpec) -> None:
        self.dim = task.action_dim

    def act(self, observation: Observation) -> np.ndarray:
        return np.full(self.dim, self.value, dtype=np.float32)


@dataclass(frozen=True)
class Site:
    server: Server
    ids: dict[str, int]  # random (a reference baseline), zero, constant, walker
