"""The threads behind ``serve-policy``: inference never runs on the event loop.

:class:`Runner` runs one connection's (or a shared policy's) calls in order on its own thread;
:class:`BatchEngine` answers every waiting request of a batched policy with one ``act_batch`` call. Results go
back to the waiting connection's event loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from vla_bench.agents.policy import BatchedPolicy
from vla_bench.spec import Observation, TaskSpec

Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if not future.done():
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _settle_all(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in results:
        _settle(future, ok, value)


def _deliver(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is gone (server stopped): nobody waits any more
        loop.call_soon_threadsafe(_settle, future, ok, value)


class Runner:
    """A daemon thread running calls in submission order (daemon: a hung policy call cannot block exit)."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def submit(self, function: Callable[[], Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put((loop, future, function))
        return future

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            loop, future, function = job
            try:
                value, ok = function(), True
            except Exception as exc:  # noqa: BLE001 - handed to the connection, which reports it to its client
                value, ok = exc, False
            _deliver(loop, future, ok, value)

    def close(self) -> None:
        self._queue.put(None)


@dataclass
class Request:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    observation: Observation | None = None
    reset: TaskSpec | None = None


@dataclass
class ServerStats:
    connections: int = 0  # accepted so far
    open_connections: int = 0
    episodes: int = 0
    requests: int = 0
    batches: int = 0
    max_batch: int = 0
    infer_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["mean_batch"] = self.requests / self.batches if self.batches else 0.0
        return data


class BatchEngine:
    """One inference thread for a batched policy: every waiting request answered by one ``act_batch``."""

    def __init__(self, policy: BatchedPolicy, max_batch: int, batch_wait: float, stats: ServerStats) -> None:
        self.policy = policy
        self.max_batch = max(1, max_batch)
        self.batch_wait = max(0.0, batch_wait)
        self.stats = stats
        self._queue: queue.SimpleQueue[Request | None] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="vla-bench-serve-batch", daemon=True).start()

    def submit(self, observation: Observation | None = None, reset: TaskSpec | None = None) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(Request(loop, future, observation, reset))
        return future

    def _gather(self, first: Request) -> tuple[list[Request], bool]:
        requests, acts, stopping = [first], int(first.observation is not None), False
        deadline = time.perf_counter() + self.batch_wait
        while acts < self.max_batch:
            remaining = deadline - time.perf_counter()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                stopping = True
                break
            requests.append(item)
            acts += item.observation is not None
        return requests, stopping

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            requests, stopping = self._gather(first)
            for request in requests:  # episode starts first, in arrival order (from connections with no act here)
                if request.reset is not None:
                    task = request.reset
                    try:
                        self.policy.reset(task)
                        _deliver(request.loop, request.future, True, None)
                    except Exception as exc:  # noqa: BLE001 - reported to that connection
                        _deliver(request.loop, request.future, False, exc)
            acts = [r for r in requests if r.observation is not None]
            if acts:
                self._act(acts)

    def _act(self, acts: list[Request]) -> None:
        started = time.perf_counter()
        try:
            observations = [r.observation for r in acts if r.observation is not None]  # _run passes acts only
            raw = self.policy.act_batch(observations)
            if len(raw) != len(acts):
                raise ValueError(f"act_batch returned {len(raw)} actions for {len(acts)} observations")
            outputs: list[tuple[bool, Any]] = []
            for single in raw:
                try:
                    outputs.append((True, np.asarray(single, dtype=np.float32)))
                except (TypeError, ValueError) as exc:
                    outputs.append((False, exc))
        except Exception as exc:  # noqa: BLE001 - the whole batch fails, as it would in-process
            outputs = [(False, exc)] * len(acts)
        elapsed = time.perf_counter() - started
        self.stats.batches += 1
        self.stats.requests += len(acts)
        self.stats.max_batch = max(self.stats.max_batch, len(acts))
        self.stats.infer_seconds += elapsed
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for request, (ok, value) in zip(acts, outputs, strict=True):
            by_loop.setdefault(request.loop, []).append(
                (request.future, ok, (value, elapsed, len(acts)) if ok else value))
        for loop, results in by_loop.items():  # one wake-up of the event loop per batch, not per request
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_all, results)

    def close(self) -> None:
        self._queue.put(None)
