"""The policy interface every agent implements, and the optional batched form.

A policy is told the task at each episode start (``reset``) and maps one observation to one action
(``act``): a float32 vector ``[A]`` in the task's native action space, or a chunk ``[T, A]`` that the harness
executes open-loop, counting every step.

A policy that also defines ``act_batch(observations) -> [B, A] | [B, T, A]`` is treated as stateless across
episodes: the harness keeps one instance and calls it once for all live episodes of a batch. A policy
without it gets one instance per live episode (its factory is called once per episode slot), so it may keep
per-episode state freely.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from vla_bench.spec import Observation, TaskSpec

Action = NDArray[np.floating[Any]]


@runtime_checkable
class Policy(Protocol):
    def reset(self, task: TaskSpec) -> None: ...

    def act(self, observation: Observation) -> Action: ...


@runtime_checkable
class BatchedPolicy(Policy, Protocol):
    def act_batch(self, observations: Sequence[Observation]) -> Action | Sequence[Action]: ...


def is_batched(policy: object) -> bool:
    return callable(getattr(policy, "act_batch", None))


@dataclass
class LoadedAgent:
    """An agent ready to run: a factory of policies plus its identity for the results bundle."""

    spec: str  # what the user passed to --agent (or a repr of the Python object)
    kind: str  # baseline | python | torchscript | onnx | object
    factory: Callable[[], Policy]
    name: str = ""
    sha256: str | None = None  # content hash of the artifact, where there is one
    details: dict[str, Any] = field(default_factory=dict)
    # True when the factory hands out one and the same object: if it is not batched, the harness can only
    # run one episode at a time through it.
    shared: bool = False

    def identity(self) -> dict[str, Any]:
        return {"spec": self.spec, "kind": self.kind, "name": self.name or self.spec, "sha256": self.sha256,
                **({"details": self.details} if self.details else {})}
