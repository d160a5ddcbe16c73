"""A fake chain benchmark: chain ``i`` completes the first ``COMPLETES[i % len]`` subtasks, each after
``DELAY`` steps, then stalls; used by the chain-engine tests in-process and through the harness."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from vla_bench.benchmarks.base import BenchmarkAdapter, EnvSession
from vla_bench.benchmarks.chain import (
    BackendStep,
    ChainBackend,
    ChainSession,
    GeneratedChain,
    chains_digest,
    seeded_distinct_chains,
)
from vla_bench.spec import ChainSpec, Observation, Protocol, TaskDef, TaskSpec

COMPLETES = (0, 1, 3, 2, 3, 0)
DELAY = 3
INSTRUCTIONS = {"open": "open it", "close": "close it", "push": "push it", "lift": "lift it"}


class FakeChainBackend(ChainBackend):
    def __init__(self, protocol: Protocol) -> None:
        self._spec = TaskSpec(name="chains", instruction="", action_low=(-1.0,), action_high=(1.0,),
                              max_steps=protocol.max_steps, observation_mode="state", state_dim=2)
        self.started: list[str] = []
        self._target = 0
        self._achieved = 0
        self._since = 0

    @property
    def task_spec(self) -> TaskSpec:
        return self._spec

    def reset(self, chain_index: int, chain: GeneratedChain, seed: int) -> Observation:
        self._target, self._achieved, self._since = COMPLETES[chain_index % len(COMPLETES)], 0, 0
        self.started.clear()
        return {"state": np.zeros(2, np.float32)}

    def begin_subtask(self, subtask: str) -> None:
        self.started.append(subtask)
        self._since = 0

    def step(self, action: NDArray[np.float32]) -> BackendStep:
        self._since += 1
        return BackendStep(observation={"state": np.array([self._achieved, self._since], np.float32)},
                           reward=0.0, terminated=False, info={"big": object()})

    def achieved(self, subtask: str, step: BackendStep) -> bool:
        if self._achieved < self._target and self._since >= DELAY:
            self._achieved += 1
            return True
        return False


class FakeChainAdapter(BenchmarkAdapter):
    name = "fakechain"

    def make_session(self, protocol: Protocol, task: TaskDef, *, render: bool = False) -> EnvSession:
        return ChainSession(protocol, FakeChainBackend(protocol))

    def describe(self) -> dict[str, Any]:
        return {"fake": "1"}


def fake_chain_protocol(*, n_chains: int = 6, length: int = 3, steps_per_subtask: int = 5) -> Protocol:
    chain = {"generator": "seeded_distinct", "generator_seed": 7, "n_chains": n_chains, "length": length,
             "steps_per_subtask": steps_per_subtask, "instructions": INSTRUCTIONS,
             "chains_sha256": "0" * 64}
    chain["chains_sha256"] = chains_digest(seeded_distinct_chains(ChainSpec.model_validate(chain)))
    return Protocol.model_validate({
        "id": "fakechain/chain@v1",
        "description": "a chain protocol on a fake environment",
        "adapter": "chain_fakes:FakeChainAdapter",
        "tasks": [{"name": "chains", "env_id": "fake"}],
        "episodes_per_task": n_chains,
        "max_steps": length * steps_per_subtask,
        "observation": {"mode": "state", "language": True},
        "success": {"kind": "chain"},
        "primary_metric": "average_length",
        "chain": chain,
    })
