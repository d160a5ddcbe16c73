"""Executors run an episode plan and hand each finished record to a sink. Same plan, same records."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from vla_bench.agents.policy import LoadedAgent
from vla_bench.harness.executor_config import ExecutorConfig
from vla_bench.harness.lanes import RecordSink
from vla_bench.harness.local_executor import LocalExecutor
from vla_bench.spec import EpisodeSpec
from vla_bench.spec import Protocol as EvalProtocol
from vla_bench.spec.errors import unknown_name_error

__all__ = ["EXECUTORS", "Executor", "ExecutorConfig", "make_executor"]

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    @property
    def simulator(self) -> dict[str, Any]: ...  # versions reported by the env workers, for provenance

    @property
    def placement(self) -> str: ...  # where the policy ran: "worker" or "central" (known once run() started)

    @property
    def first_step_at(self) -> float | None: ...  # epoch seconds of the first env step any worker took

    def run(self, plan: Iterable[EpisodeSpec], sink: RecordSink,
            on_started: Callable[[], None] | None = None) -> None: ...  # on_started: at the first reply


def make_executor(name: str, protocol: EvalProtocol, agent: LoadedAgent, config: ExecutorConfig,
                  *, ray_address: str | None = None) -> Executor:
    if name == "local":
        return LocalExecutor(protocol, agent, config)
    if name == "ray":
        from vla_bench.harness.ray_executor import RayExecutor  # noqa: PLC0415 - ray is optional and slow to import

        return RayExecutor(protocol, agent, config, address=ray_address)
    raise unknown_name_error("executor", name, EXECUTORS)
