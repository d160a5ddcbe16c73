"""Calling policies with a per-step time limit, and turning what they return into validated action chunks."""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn, TypeVar

import numpy as np
from numpy.typing import NDArray

from vla_bench.agents.policy import Action, Policy, is_batched
from vla_bench.spec import Observation
from vla_bench.spec.errors import describe_exception

T = TypeVar("T")


def _raise(exc: BaseException) -> NoReturn:
    raise exc


class PolicyFault(Exception):
    """A policy call that failed; ``kind`` is the episode record's error kind."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class PolicyLost(RuntimeError):
    """The policy instance is gone through no fault of its own (its process was replaced): its episode runs again
    from the start (kind ``policy_lost``: never recorded)."""


class RemoteCallError(RuntimeError):
    """What a policy raised in another process, already described there."""


class TimedCaller:
    """Runs calls on a daemon thread and waits at most ``timeout`` seconds for each.

    Python cannot interrupt a stuck call, so a call that overruns is abandoned with its thread (daemon:
    it does not keep the process alive) and the next call gets a fresh thread.
    """

    def __init__(self) -> None:
        # jobs for the thread; None: close(), the run is over
        self._requests: queue.SimpleQueue[Callable[[], None] | None] | None = None

    def _start(self) -> queue.SimpleQueue[Callable[[], None] | None]:
        requests: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()

        def loop() -> None:
            while (job := requests.get()) is not None:
                job()

        threading.Thread(target=loop, name="vla-bench-policy", daemon=True).start()
        return requests

    def call(self, function: Callable[[], T], timeout: float | None) -> T:
        if self._requests is None:
            self._requests = self._start()
        # the reply: a thunk that returns the value, or raises what the call raised, in the caller's thread
        replies: queue.SimpleQueue[Callable[[], T]] = queue.SimpleQueue()

        def job() -> None:
            try:
                value = function()
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                replies.put(functools.partial(_raise, exc))
                return
            replies.put(lambda: value)

        self._requests.put(job)
        try:
            reply = replies.get(timeout=timeout)
        except queue.Empty:
            self._requests = None  # abandon the stuck thread
            raise TimeoutError from None
        return reply()

    def close(self) -> None:
        """End the idle thread (an abandoned, stuck one cannot be ended: it is a daemon)."""
        if self._requests is not None:
            self._requests.put(None)
            self._requests = None


def as_chunk(raw: object, action_dim: int) -> list[NDArray[np.float32]]:
    """A policy output as a list of actions ``[A]``; raises PolicyFault('invalid_action') with the reason."""
    try:
        array = np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise PolicyFault("invalid_action",
                          f"policy returned {type(raw).__name__}, not a numeric array: {exc}") from None
    if array.ndim == 1 and array.shape[0] == action_dim:
        chunk = array[None, :]
    elif array.ndim == 2 and array.shape[1] == action_dim and array.shape[0] >= 1:
        chunk = array
    else:
        raise PolicyFault(
            "invalid_action",
            f"policy returned an action of shape {tuple(array.shape)}; expected ({action_dim},) or a chunk "
            f"(T, {action_dim})",
        )
    if not np.all(np.isfinite(chunk)):
        bad = np.argwhere(~np.isfinite(chunk))[0]
        raise PolicyFault("invalid_action", f"policy returned a non-finite action value {chunk[tuple(bad)]!r} "
                                            f"at index {tuple(int(i) for i in bad)}")
    return list(chunk)


@dataclass
class PolicyRequest:
    policy: Policy
    observation: Observation
    action_dim: int


Outcome = list[NDArray[np.float32]] | PolicyFault
# what one call gave: act_batch's actions (or act's, as a list of one), or the exception it raised
GroupOutput = Action | Sequence[Action] | BaseException


def _groups(requests: Sequence[PolicyRequest]) -> list[list[int]]:
    """Request positions by call: one group per batched policy instance, one per request otherwise."""
    groups: dict[int, list[int]] = {}
    for index, request in enumerate(requests):
        key = id(request.policy) if is_batched(request.policy) else -(index + 1)
        groups.setdefault(key, []).append(index)
    return list(groups.values())


def call_group(requests: Sequence[PolicyRequest], indices: list[int]) -> GroupOutput:
    """The raw outputs of one call (``act_batch`` or ``act``), or what it raised.

    Any exception - SystemExit and KeyboardInterrupt included - is a fault of the policy, returned to fail
    its episodes: a policy never ends the run."""
    policy = requests[indices[0]].policy
    try:
        if is_batched(policy):
            return policy.act_batch([requests[i].observation for i in indices])
        return [policy.act(requests[indices[0]].observation)]
    except BaseException as exc:  # noqa: BLE001 - user code
        return exc


def call_directly(requests: Sequence[PolicyRequest], before: Callable[[list[int]], None] | None = None
                  ) -> list[Outcome]:
    """:func:`compute_actions` in this thread, without a time limit of its own (an env worker's watchdog
    bounds it by killing the process). ``before(indices)`` is told which requests each call serves."""
    results: list[Outcome | None] = [None] * len(requests)
    for indices in _groups(requests):
        if before is not None:
            before(indices)
        for index, outcome in zip(indices, _outcomes(call_group(requests, indices), indices, requests, None),
                                  strict=True):
            results[index] = outcome
    return [r for r in results if r is not None]


def compute_actions(requests: Sequence[PolicyRequest], caller: TimedCaller, timeout: float | None,
                    on_timeout: Callable[[], None] | None = None) -> list[Outcome]:
    """One chunk (or fault) per request, in order.

    Requests sharing one batched policy are answered by one ``act_batch`` call; the others call ``act`` one
    by one. All calls of a batch run in one hand-off to the policy thread (a hand-off costs tens of µs);
    the time limit applies to each call, and a call that overruns fails its own episodes only.
    ``on_timeout`` runs before the calls after a hung one (e.g. to kill the process the hung call is in).
    """
    pending = _groups(requests)
    raw: dict[int, GroupOutput] = {}  # group position -> outputs, or the exception the call raised
    while len(raw) < len(pending):
        first = len(raw)
        lock = threading.Lock()
        cancelled = [False]

        def run_groups(first: int = first, lock: threading.Lock = lock, cancelled: list[bool] = cancelled) -> None:
            for position in range(first, len(pending)):
                started = time.perf_counter()
                value: GroupOutput = call_group(requests, pending[position])
                if timeout is not None and time.perf_counter() - started > timeout:
                    value = TimeoutError()
                with lock:
                    if cancelled[0]:  # abandoned after a timeout: its late results are not used
                        return
                    raw[position] = value

        try:
            caller.call(run_groups, None if timeout is None else timeout * (len(pending) - first))
        except TimeoutError:
            with lock:
                cancelled[0] = True
                raw[len(raw)] = TimeoutError()  # results arrive in order: the first missing one hung
            if on_timeout is not None:
                on_timeout()
    results: list[Outcome | None] = [None] * len(requests)
    for position, indices in enumerate(pending):
        for index, outcome in zip(indices, _outcomes(raw[position], indices, requests, timeout), strict=True):
            results[index] = outcome
    return [r for r in results if r is not None]


def _outcomes(output: GroupOutput, indices: list[int], requests: Sequence[PolicyRequest], timeout: float | None
              ) -> list[Outcome]:
    if isinstance(output, TimeoutError):
        fault = PolicyFault("policy_timeout", f"policy took longer than the per-step limit of {timeout or 0:g} s")
        return [fault] * len(indices)
    if isinstance(output, PolicyFault):
        return [output] * len(indices)
    if isinstance(output, PolicyLost):
        return [PolicyFault("policy_lost", str(output))] * len(indices)
    if isinstance(output, RemoteCallError):
        return [PolicyFault("policy_error", f"policy raised {output}")] * len(indices)
    if isinstance(output, BaseException):
        return [PolicyFault("policy_error", f"policy raised {describe_exception(output)}")] * len(indices)
    try:
        count = len(output)
    except TypeError:
        count = -1
    if count != len(indices):
        fault = PolicyFault("invalid_action", f"act_batch returned {count} actions for {len(indices)} observations")
        return [fault] * len(indices)
    outcomes: list[Outcome] = []
    for index, single in zip(indices, output, strict=True):
        try:
            outcomes.append(as_chunk(single, requests[index].action_dim))
        except PolicyFault as fault:
            outcomes.append(fault)
    return outcomes
