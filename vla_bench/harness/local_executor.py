"""The executor: runs an episode plan on env workers and hands each finished record to a sink.

Its parts, one job each: ``worker_pool.py`` starts and stops workers (a launcher decides where: a
subprocess here, a Ray actor in ``ray_executor.py``); ``lanes.py`` builds the requests and reads the
replies, for the policy placed in this process (``central_policies.py``) or in the workers
(``worker_policy.py``, chosen by ``placement.py``); ``episode.py`` is one episode's pure state machine;
``scheduling.py`` spreads the episodes. This module is the loop that ties them together, and the
supervision: faults stay with their episode.

A policy that raises, hangs or returns a bad action fails that episode; an environment exception fails that
item; a worker that crashes or hangs is killed and replaced. When a worker dies with several live episodes,
the culprit is unknown: each of them is run again alone on a worker, and only an episode that also fails
alone is recorded as failed. A worker whose policy call overran (worker placement) names its episodes before
it exits: they fail, the others on it run again. Workers that cannot start stop the run before any episode
is recorded for them (:class:`WorkerStartError`): a later ``--resume`` runs those episodes.
"""

from __future__ import annotations

import contextlib
import random
import selectors
import sys
import time
from collections.abc import Callable, Iterable

from pydantic import JsonValue

from vla_bench.agents.policy import LoadedAgent
from vla_bench.harness.central_policies import CentralPolicies
from vla_bench.harness.episode import Episode, EpisodeRules
from vla_bench.harness.executor_config import ExecutorConfig
from vla_bench.harness.framing import recv_message, send_message
from vla_bench.harness.lanes import Book, CentralDriver, Lane, RecordSink, WorkerDriver, hand_back, make_lanes
from vla_bench.harness.placement import central_process_spec, choose_placement
from vla_bench.harness.policy_process import PolicyProcess
from vla_bench.harness.scheduling import EpisodeQueue, envs_per_worker
from vla_bench.harness.worker_pool import (
    Launcher,
    PolicyLoadError,
    SubprocessLauncher,
    Worker,
    WorkerPool,
    WorkerProcess,
    WorkerStartError,
)
from vla_bench.spec import EpisodeRecord, EpisodeSpec, Protocol
from vla_bench.spec.messages import Batch, Reply

__all__ = ["ExecutorConfig", "LocalExecutor", "RecordSink", "WorkerProcess", "WorkerStartError"]


class LocalExecutor:
    def __init__(self, protocol: Protocol, agent: LoadedAgent, config: ExecutorConfig,
                 launcher: Launcher | None = None, *, remote_workers: bool = False) -> None:
        self.protocol, self.agent, self.config = protocol, agent, config
        self.remote_workers = remote_workers
        self.launcher = launcher or SubprocessLauncher(config)
        self.pool = WorkerPool(protocol, config, self.launcher)
        self.placement, self.placement_reason = "central", ""
        self._selector = selectors.DefaultSelector()
        self._workers: list[Worker] = []
        self._queue = EpisodeQueue([])
        self._policies = CentralPolicies(agent, config.policy_timeout)
        self._driver: CentralDriver | WorkerDriver | None = None
        self._envs = 1
        self._on_started: Callable[[], None] | None = None
        self.first_step_at: float | None = None  # epoch seconds of the run's first env step (start-up time)

    @property
    def simulator(self) -> dict[str, JsonValue]:
        return self.pool.simulator

    # ----------------------------------------------------------------------------------------------- run
    def run(self, plan: Iterable[EpisodeSpec], sink: RecordSink,
            on_started: Callable[[], None] | None = None) -> None:
        """Run ``plan``, handing each record to ``sink``. ``on_started`` is called once, when the first reply
        comes back (the workers have taken their first steps: what the caller does then does not delay them,
        even on a busy machine), before any record."""
        specs = list(plan)
        if self.config.schedule_seed is not None:
            random.Random(self.config.schedule_seed).shuffle(specs)
        self.placement, agent_ref, self.placement_reason = choose_placement(self.agent, self.config,
                                                                              remote_workers=self.remote_workers)
        in_process = central_process_spec(self.agent) if self.placement == "central" else None
        if in_process is not None:  # a factory not declared per-process safe: its own process, not a thread here
            self._policies = CentralPolicies(self.agent, self.config.policy_timeout,
                                             PolicyProcess(in_process, list(sys.path)))
        if not specs:
            return
        rules = EpisodeRules.of(self.protocol, action_noise=self.config.action_noise,
                                collect=self.config.trajectory_sink is not None)
        self._queue = EpisodeQueue([Episode(spec, rules) for spec in specs])
        count = max(1, min(self.config.workers, len(specs)))
        self._on_started = on_started

        def started_sink(record: EpisodeRecord) -> None:
            self._started()
            sink(record)

        book = Book(rules, self.config, self._queue, started_sink)
        try:
            self.pool.agent = agent_ref
            try:
                self._start_all(count)
            except PolicyLoadError as exc:
                if self.config.policy_placement == "worker":
                    raise
                self.placement, self.placement_reason = "central", f"fell back: {exc}"
                self.pool.agent = None
                self._start_all(count)
            # spread the episodes, and hold no more environments than free memory does (the workers said the cost)
            self._envs = envs_per_worker(len(specs), count, self.config.envs_per_worker,
                                         env_memory_gb=self.pool.env_memory_gb)
            self._driver = WorkerDriver(book) if self.placement == "worker" else CentralDriver(book, self._policies)
            for worker in self._workers:
                self._add_lanes(worker)
            self._loop()
        finally:
            self.close()

    def _start_all(self, count: int) -> None:
        self._workers, fault = self.pool.start_all(count)
        if fault is not None and not self._workers:
            raise _no_workers(fault, self._queue)
        for worker in self._workers:
            self._selector.register(worker.sock, selectors.EVENT_READ, worker)

    def _started(self) -> None:
        callback, self._on_started = self._on_started, None
        if callback is not None:
            callback()

    def _add_lanes(self, worker: Worker) -> None:
        assert self._driver is not None
        worker.lanes = make_lanes(worker, self._envs, self._driver.lanes_per_worker)
        for lane in worker.lanes:
            self._advance(lane)

    def close(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(worker.sock)
            self.pool.stop(worker, graceful=True)
        self._workers = []
        self._selector.close()
        self.launcher.close()
        self._policies.close()

    # ------------------------------------------------------------------------------------------- loop
    def _loop(self) -> None:
        while True:
            if not any(worker.in_flight for worker in self._workers):
                for worker in self._workers:  # e.g. a retry waiting for an idle worker
                    for lane in worker.lanes:
                        self._advance(lane)
                if not any(worker.in_flight for worker in self._workers):
                    return
            # with the policy in the worker, a request may include one policy call (bounded by its watchdog)
            limit = self.config.env_timeout + (self.config.policy_timeout or 0.0 if self.placement == "worker" else 0.0)
            for key, _ in self._selector.select(timeout=_seconds_to_deadline(self._workers, limit)):
                self._on_readable(key.data)
            now = time.perf_counter()
            for worker in list(self._workers):
                # a reply that arrived while this loop was busy elsewhere (policy calls, restarting another
                # worker) is read on the next pass: only a worker that has not answered is hung
                if worker.in_flight and now - worker.busy_since > limit and not worker.readable():
                    self._replace_worker(worker, "env_timeout", f"env worker did not answer within "
                                                                f"{limit:g} s (hung); it was killed")

    def _on_readable(self, worker: Worker) -> None:
        if not worker.in_flight or worker not in self._workers:
            return
        try:
            reply = recv_message(worker.sock)
            if not isinstance(reply, Reply):
                raise ValueError(f"expected a Reply, got {type(reply).__name__}")
        except (OSError, ConnectionError, ValueError):
            self._replace_worker(worker, "env_crash", self.pool.crash_reason(worker))
            return
        self._started()
        lane = worker.in_flight.popleft()
        worker.busy_since = time.perf_counter()
        if reply.first_step_at is not None:
            self.first_step_at = min(reply.first_step_at, self.first_step_at or reply.first_step_at)
        assert self._driver is not None
        for result in reply.results:
            self._driver.on_result(lane, result)
        self._requeue_lost()
        if reply.hung is not None:  # the worker exits now: its hung episodes fail, the others run again
            self._driver.book.fail_hung(lane, reply.hung)
            self._replace_worker(worker, "", "", blameless=True)
            return
        self._advance(lane)
        for other in worker.lanes:
            self._advance(other)  # an idle lane may have work now (a freed worker, a retry)

    def _advance(self, lane: Lane) -> None:
        """Send the lane's next request, if it has one and none is in flight."""
        worker = lane.worker
        if lane in worker.in_flight or worker not in self._workers or self._driver is None:
            return
        items = self._driver.items(lane)
        self._requeue_lost()
        if items is None:
            return
        lane.sent_at = time.perf_counter()
        if not worker.in_flight:
            worker.busy_since = lane.sent_at
        worker.in_flight.append(lane)
        with contextlib.suppress(OSError):  # a worker that is gone: the loop sees its closed socket
            send_message(worker.sock, Batch(items))

    # ---------------------------------------------------------------------------------------- failures
    def _requeue_lost(self) -> None:
        """Episodes whose central policy instance died with another's call run again from the start."""
        hand_back(self._workers, set(self._policies.take_lost()), self._queue)

    def _replace_worker(self, worker: Worker, kind: str, reason: str, *, blameless: bool = False) -> None:
        assert self._driver is not None
        live = [(lane, slot, ep) for lane in worker.lanes for slot, ep in lane.episodes.items()]
        for lane, slot, episode in live:
            self._driver.forget(lane, slot)  # its state is unknown now
            if blameless:
                del lane.episodes[slot]
                self._queue.put_back(Episode(episode.spec, episode.rules, episode.attempt))
            elif len(live) == 1 or episode.attempt > 0:
                self._driver.book.finish(lane, slot, (kind, reason), close_recording=False)
            else:
                del lane.episodes[slot]
                self._queue.retry_alone(Episode(episode.spec, episode.rules, episode.attempt + 1))
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(worker.sock)
        self.pool.stop(worker, graceful=False)
        replacement = self.pool.start(worker.index)
        try:
            self.pool.handshake(replacement)
        except WorkerStartError as exc:
            self.pool.stop(replacement, graceful=False)
            self._workers.remove(worker)  # the run goes on with the others, if any
            if not self._workers:
                raise _no_workers(exc, self._queue) from None
        else:
            self._workers[self._workers.index(worker)] = replacement
            self._selector.register(replacement.sock, selectors.EVENT_READ, replacement)
            self._add_lanes(replacement)
        for other in self._workers:  # a retry may be waiting for any idle worker
            if not other.in_flight:
                for lane in other.lanes:
                    self._advance(lane)


def _seconds_to_deadline(workers: list[Worker], env_timeout: float) -> float:
    now = time.perf_counter()
    deadlines = [w.busy_since + env_timeout - now for w in workers if w.in_flight]
    return max(0.0, min(deadlines)) if deadlines else 0.0


def _no_workers(fault: WorkerStartError, queue: EpisodeQueue) -> WorkerStartError:
    """No env worker can run: the run stops; episodes not run yet are not recorded (``--resume`` runs them)."""
    left = len(queue.pending) + len(queue.retries)
    return WorkerStartError(f"{fault} ({left} episodes not run yet; nothing was recorded for them: "
                            f"fix the cause and finish the run with --resume)")
