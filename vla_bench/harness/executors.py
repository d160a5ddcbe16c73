"""Executors run an episode plan and hand each finished record to a sink. Same plan, same records."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from pydantic import JsonValue

from vla_bench.agents.policy import LoadedAgent
from vla_bench.harness.executor_config import ExecutorConfig
from vla_bench.harness.lanes import RecordSink
from vla_bench.spec import EpisodeSpec
from vla_bench.spec import Protocol as EvalProtocol
from vla_bench.spec.registry import Registry

__all__ = ["EXECUTORS", "Executor", "ExecutorConfig", "make_executor"]



class Executor(Protocol):
    @property
    def simulator(self) -> dict[str, JsonValue]: ...  # versions reported by the env workers, for provenance

    @property
    def placement(self) -> str: ...  # where the policy ran: "worker" or "central" (known once run() started)

    @property
    def first_step_at(self) -> float | None: ...  # epoch seconds of the first env step any worker took

    def run(self, plan: Iterable[EpisodeSpec], sink: RecordSink,
            on_started: Callable[[], None] | None = None) -> None: ...  # on_started: at the first reply


# name -> the executor class, built as cls(protocol, agent, config, **options); ray is optional and slow to
# import, so the entries are lazy
EXECUTORS: Registry[Callable[..., Executor]] = Registry("executor", {
    "local": "vla_bench.harness.local_executor:LocalExecutor",
    "ray": "vla_bench.harness.ray_executor:RayExecutor",
})


def make_executor(name: str, protocol: EvalProtocol, agent: LoadedAgent, config: ExecutorConfig,
                  *, ray_address: str | None = None) -> Executor:
    executor_class = EXECUTORS.get(name)
    options = {"address": ray_address} if name == "ray" else {}  # only Ray's executor joins a cluster
    return executor_class(protocol, agent, config, **options)
