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
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from vla_bench.agents.policy import BatchedPolicy
from vla_bench.spec import Observation, TaskSpec

T = TypeVar("T")
Acted = tuple[NDArray[np.float32], float, int]  # the action, the seconds of its batch, the batch's size


def _set_result(future: asyncio.Future[T], value: T) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[T], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _deliver(loop: asyncio.AbstractEventLoop, future: asyncio.Future[T], value: T) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is gone (server stopped): nobody waits any more
        loop.call_soon_threadsafe(_set_result, future, value)


def _deliver_error(loop: asyncio.AbstractEventLoop, future: asyncio.Future[T], error: BaseException) -> None:
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_set_exception, future, error)


def _run_job(loop: asyncio.AbstractEventLoop, future: asyncio.Future[T], function: Callable[[], T]) -> None:
    try:
        value = function()
    except Exception as exc:  # noqa: BLE001 - handed to the connection, which reports it to its client
        _deliver_error(loop, future, exc)
        return
    _deliver(loop, future, value)


def _settle_all(results: list[tuple[asyncio.Future[Acted], Acted | Exception]]) -> None:
    for future, outcome in results:
        if isinstance(outcome, Exception):
            _set_exception(future, outcome)
        else:
            _set_result(future, outcome)


class Runner:
    """A daemon thread running calls in submission order (daemon: a hung policy call cannot block exit)."""

    def __init__(self, name: str) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def submit(self, function: Callable[[], T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(lambda: _run_job(loop, future, function))
        return future

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            job()

    def close(self) -> None:
        self._queue.put(None)


@dataclass
class ActRequest:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Acted]
    observation: Observation


@dataclass
class ResetRequest:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    task: TaskSpec


Request = ActRequest | ResetRequest


@dataclass
class ServerStats:
    connections: int = 0  # accepted so far
    open_connections: int = 0
    episodes: int = 0
    requests: int = 0
    batches: int = 0
    max_batch: int = 0
    infer_seconds: float = 0.0

    def as_dict(self) -> dict[str, float]:
        data: dict[str, float] = {f.name: getattr(self, f.name) for f in fields(self)}
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

    def act(self, observation: Observation) -> asyncio.Future[Acted]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Acted] = loop.create_future()
        self._queue.put(ActRequest(loop, future, observation))
        return future

    def reset(self, task: TaskSpec) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put(ResetRequest(loop, future, task))
        return future

    def _gather(self, first: Request) -> tuple[list[Request], bool]:
        requests, acts, stopping = [first], int(isinstance(first, ActRequest)), False
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
            acts += isinstance(item, ActRequest)
        return requests, stopping

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            requests, stopping = self._gather(first)
            for request in requests:  # episode starts first, in arrival order (from connections with no act here)
                if isinstance(request, ResetRequest):
                    try:
                        self.policy.reset(request.task)
                        _deliver(request.loop, request.future, None)
                    except Exception as exc:  # noqa: BLE001 - reported to that connection
                        _deliver_error(request.loop, request.future, exc)
            acts = [r for r in requests if isinstance(r, ActRequest)]
            if acts:
                self._act(acts)

    def _act(self, acts: list[ActRequest]) -> None:
        started = time.perf_counter()
        outputs: list[NDArray[np.float32] | Exception]
        try:
            raw = self.policy.act_batch([r.observation for r in acts])
            if len(raw) != len(acts):
                raise ValueError(f"act_batch returned {len(raw)} actions for {len(acts)} observations")
            outputs = []
            for single in raw:
                try:
                    outputs.append(np.asarray(single, dtype=np.float32))
                except (TypeError, ValueError) as exc:
                    outputs.append(exc)
        except Exception as exc:  # noqa: BLE001 - the whole batch fails, as it would in-process
            outputs = [exc] * len(acts)
        elapsed = time.perf_counter() - started
        self.stats.batches += 1
        self.stats.requests += len(acts)
        self.stats.max_batch = max(self.stats.max_batch, len(acts))
        self.stats.infer_seconds += elapsed
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Acted], Acted | Exception]]] = {}
        for request, output in zip(acts, outputs, strict=True):
            by_loop.setdefault(request.loop, []).append(
                (request.future, output if isinstance(output, Exception) else (output, elapsed, len(acts))))
        for loop, results in by_loop.items():  # one wake-up of the event loop per batch, not per request
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_all, results)

    def close(self) -> None:
        self._queue.put(None)
