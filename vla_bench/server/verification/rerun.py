"""Re-running chosen planned episodes of a protocol with the harness (the only verification module that does:
the API server never imports it, so it never imports a simulator)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vla_bench.agents.onnx_policy import load_onnx
from vla_bench.agents.policy import LoadedAgent, is_batched
from vla_bench.harness import provenance
from vla_bench.harness.executors import ExecutorConfig, make_executor
from vla_bench.protocols.plan import episode_spec
from vla_bench.runtimes.resolve import require as require_runtime
from vla_bench.spec import EpisodeRecord, Protocol


def artifact_agent(path: Path, sha256: str, claimed_agent: dict[str, Any]) -> LoadedAgent:
    """The ONNX artifact through the harness's ONNX loader, with the instruction conditioning the bundle's agent
    recorded (a `vla-bench train` export of a multi-task policy): the same policy the bundle ran."""
    loaded = load_onnx(path, sha256)
    conditioning = (claimed_agent.get("details") or {}).get("conditioning")
    if conditioning:
        from vla_bench.agents.conditioning import KIND, InstructionOneHot  # noqa: PLC0415

        if conditioning.get("kind") != KIND:
            raise ValueError(f"the bundle's agent uses conditioning {conditioning.get('kind')!r}, unknown to this "
                             "worker's vla-bench")
        wrapped = InstructionOneHot(loaded.factory(), conditioning["instructions"])
        loaded.factory = lambda: wrapped
    return loaded


@contextlib.contextmanager
def _api_key(key: str | None) -> Iterator[None]:
    from vla_bench.agents.remote import API_KEY_ENV  # noqa: PLC0415

    previous = os.environ.pop(API_KEY_ENV, None)
    if key:
        os.environ[API_KEY_ENV] = key
    try:
        yield
    finally:
        os.environ.pop(API_KEY_ENV, None)
        if previous is not None:
            os.environ[API_KEY_ENV] = previous


def endpoint_agent(url: str, api_key: str | None) -> LoadedAgent:
    """A policy server (openpi wire format); the key is read when the URL is parsed, then kept by the agent."""
    from vla_bench.agents.remote import load_remote  # noqa: PLC0415 - websockets only when used

    with _api_key(api_key):
        return load_remote(url)


@dataclass
class Rerun:
    records: list[EpisodeRecord]
    provenance: dict[str, Any]
    seconds: float


def rerun_episodes(protocol: Protocol, agent: LoadedAgent, keys: list[tuple[str, int]], *, workers: int = 1,
                   envs_per_worker: int = 8, policy_timeout: float = 60.0, env_timeout: float = 300.0) -> Rerun:
    """Run exactly the planned episodes ``keys`` (their planned seeds and init states) and return the records."""
    specs = [episode_spec(protocol, task, index) for task, index in keys]
    if agent.shared and not is_batched(agent.factory()):
        workers, envs_per_worker = 1, 1  # one stateful policy object plays one episode at a time
    runtime = require_runtime(protocol.adapter)
    config = ExecutorConfig(workers=workers, envs_per_worker=envs_per_worker, policy_timeout=policy_timeout,
                            env_timeout=env_timeout, python=runtime.python, isolated=runtime.isolated,
                            worker_env=runtime.worker_env())
    executor = make_executor("local", protocol, agent, config)
    records: list[EpisodeRecord] = []
    started = time.perf_counter()
    executor.run(specs, records.append)
    seconds = time.perf_counter() - started
    prov = provenance.collect(executor.simulator)
    prov.pop("command", None)
    prov["run"] = {"workers": workers, "envs_per_worker": envs_per_worker, "runtime": runtime.kind}
    return Rerun(records=records, provenance=prov, seconds=seconds)
