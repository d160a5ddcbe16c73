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

import abc
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeGuard, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from pydantic import JsonValue

from vla_bench.spec import Observation, TaskSpec
from vla_bench.spec.errors import UserError

Action = NDArray[np.floating[Any]]
TRAINING_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+/@-]{0,99}")  # as summary.schema.json's agent.training


@runtime_checkable
class Policy(Protocol):
    def reset(self, task: TaskSpec) -> None: ...

    def act(self, observation: Observation) -> Action: ...


@runtime_checkable
class BatchedPolicy(Policy, Protocol):
    def act_batch(self, observations: Sequence[Observation]) -> Action | Sequence[Action]: ...


def is_batched(policy: object) -> TypeGuard[BatchedPolicy]:
    return callable(getattr(policy, "act_batch", None))


class StatelessBatchPolicy(abc.ABC):
    """A batched policy whose action depends on the observation alone (an exported network): ``reset`` has
    nothing to forget and ``act`` is a batch of one."""

    def reset(self, task: TaskSpec) -> None:  # noqa: B027 - deliberately nothing: no state to reset
        """Nothing carries over between episodes."""

    def act(self, observation: Observation) -> Action:
        action: Action = self.act_batch([observation])[0]  # a row of the batch
        return action

    @abc.abstractmethod
    def act_batch(self, observations: Sequence[Observation]) -> Action:
        """``[B, A]`` or ``[B, T, A]`` for ``B`` observations."""


@dataclass(frozen=True)
class TrainingRun:
    """Which training run of a method produced the agent: runs of one ``group`` (the method, as its author
    names it) with different ``seed`` values form one multi-run entry on the leaderboard (rliable's advice:
    score a method over several training runs, not one)."""

    group: str
    seed: int

    def __post_init__(self) -> None:
        if not TRAINING_GROUP.fullmatch(self.group):
            raise UserError(f"training group {self.group!r}: 1 to 100 characters, letters, digits and _.:+/@- "
                            "(starting with a letter or digit)")
        if not 0 <= self.seed < 2**63:
            raise UserError(f"training seed {self.seed}: an integer from 0 to 2^63 - 1")

    def to_json(self) -> dict[str, JsonValue]:
        return {"group": self.group, "seed": self.seed}


AgentKind = Literal["baseline", "python", "object", "torchscript", "onnx", "remote", "lerobot"]
"""How an agent was loaded: a ``baseline:`` name, a Python factory or object, an artifact file, a gateway."""


@dataclass
class LoadedAgent:
    """An agent ready to run: a factory of policies plus its identity for the results bundle."""

    spec: str  # what the user passed to --agent (or a repr of the Python object)
    kind: AgentKind
    factory: Callable[[], Policy]
    name: str = ""
    sha256: str | None = None  # content hash of the artifact, where there is one
    details: dict[str, Any] = field(default_factory=dict)
    # True when the factory hands out one and the same object: if it is not batched, the harness can only
    # run one episode at a time through it.
    shared: bool = False
    training: TrainingRun | None = None

    def identity(self) -> dict[str, JsonValue]:
        return {"spec": self.spec, "kind": self.kind, "name": self.name or self.spec, "sha256": self.sha256,
                **({"details": self.details} if self.details else {}),
                **({"training": self.training.to_json()} if self.training else {})}
