"""Built-in reference agents: ``baseline:random`` and ``baseline:zero``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vla_bench.agents.policy import Action, LoadedAgent, Policy
from vla_bench.spec import Observation, TaskSpec
from vla_bench.spec.registry import Registry


class RandomPolicy:
    """Uniform actions in the task's bounds, seeded from the episode's planned seed (plan-invariant)."""

    def __init__(self) -> None:
        self._rng = np.random.default_rng(0)
        self._low = np.zeros(0, dtype=np.float32)
        self._high = np.zeros(0, dtype=np.float32)

    def reset(self, task: TaskSpec) -> None:
        self._rng = np.random.default_rng(task.episode_seed)
        self._low = np.asarray(task.action_low, dtype=np.float32)
        self._high = np.asarray(task.action_high, dtype=np.float32)

    def act(self, observation: Observation) -> Action:
        return self._rng.uniform(self._low, self._high).astype(np.float32)


class ZeroPolicy:
    """The all-zeros action (clipped into bounds by the harness when zero lies outside them)."""

    def __init__(self) -> None:
        self._dim = 0

    def reset(self, task: TaskSpec) -> None:
        self._dim = task.action_dim

    def act(self, observation: Observation) -> Action:
        return np.zeros(self._dim, dtype=np.float32)


BASELINES: Registry[Callable[[], Policy]] = Registry("baseline agent", {
    "random": RandomPolicy,
    "zero": ZeroPolicy,
    "metaworld-scripted": "vla_bench.agents.metaworld_expert:make",
}, prefix="baseline:", descriptions={
    "random": "uniform random actions, seeded per episode",
    "zero": "the all-zeros action",
    "metaworld-scripted": "Meta-World's scripted expert per task (metaworld.policies); metaworld state protocols",
})


def load_baseline(name: str) -> LoadedAgent:
    if name not in BASELINES:
        from vla_bench.agents.exported import bundled_agent  # noqa: PLC0415 - trained baselines in results/agents/

        if (bundled := bundled_agent(name)) is not None:
            return bundled
        raise BASELINES.unknown(name)
    return LoadedAgent(spec=f"baseline:{name}", kind="baseline", factory=BASELINES.get(name), name=f"baseline:{name}")
