"""The policy placed in the env worker: whole episodes run here, batched over this worker's slots.

The orchestrator sends :class:`RunItem` s (episodes to start); the worker resets them, asks the policy for
actions - one ``act_batch`` call for all of its live episodes when the policy has it - steps the environments,
and answers with the :class:`Finished` records as soon as one episode ends, or after ``heartbeat`` seconds
(so that a silent worker still means a hung one). No message crosses the socket per step.

The records are built by the same :class:`~vla_bench.harness.episode.Episode` as with central placement, so
they are identical. A policy that raises anything fails its episodes; one that overruns the per-step limit
is stopped by the watchdog: it tells the orchestrator which episodes' call hung, then ends this process, so
no stuck thread is left burning a core (the orchestrator starts a fresh worker). A policy that kills the
process (``os._exit``, a segfault, the OOM killer) is a crashed worker, handled by the orchestrator.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from vla_bench.agents.policy import LoadedAgent, Policy, is_batched
from vla_bench.harness.episode import Episode, EpisodeRules, trajectory_to_wire
from vla_bench.harness.policy_calls import PolicyFault, PolicyRequest, call_directly
from vla_bench.spec.errors import describe_exception
from vla_bench.spec.messages import AgentRef, Batch, Finished, ItemError, PolicyHung, Reply, Result, RunItem

if TYPE_CHECKING:  # env_worker imports this module (lazily) to host the policy
    from vla_bench.harness.env_worker import EnvWorker

HUNG_EXIT = 86  # the exit code of a worker whose policy call overran (after it said so)


_PRELOADED: dict[str, LoadedAgent] = {}


def _load(spec: str) -> LoadedAgent:
    from vla_bench.agents.loaders import load_agent  # noqa: PLC0415 - only with the policy placed here

    return load_agent(spec)


def preload_agent(spec: str) -> None:
    """Load the agent before the hello asks for it (a prestarted worker); its hash is checked then."""
    _PRELOADED[spec] = _load(spec)


class Watchdog:
    """Ends the process when an armed call outlives its deadline, after sending what it was doing."""

    def __init__(self, timeout: float | None, send: Callable[[Reply], None], pending: list[Result]) -> None:
        self.timeout, self._send, self._pending = timeout, send, pending
        self.lock = threading.Lock()  # held while a reply is sent: one frame at a time on the socket
        self._armed: tuple[float, list[int], list[int], bool] | None = None
        if timeout is not None:
            period = max(0.01, min(0.1, timeout / 10))
            threading.Thread(target=self._watch, args=(period,), name="vla-bench-watchdog", daemon=True).start()

    def arm(self, slots: list[int], lengths: list[int], *, reset: bool = False) -> None:
        if self.timeout is not None:
            self._armed = (time.monotonic() + self.timeout, slots, lengths, reset)

    def disarm(self) -> None:
        with self.lock:
            self._armed = None

    def _watch(self, period: float) -> None:
        while True:
            time.sleep(period)
            armed = self._armed
            if armed is None or time.monotonic() <= armed[0]:
                continue
            with self.lock:
                if self._armed is not armed:  # the call returned meanwhile
                    continue
                try:
                    self._send(Reply(list(self._pending), PolicyHung(armed[1], armed[2], self.timeout or 0.0,
                                                                     armed[3])))
                finally:
                    os._exit(HUNG_EXIT)


class PolicyHost:
    """Runs episodes with the agent loaded in this process; :meth:`handle` answers one batch."""

    def __init__(self, worker: EnvWorker, agent: AgentRef, send: Callable[[Reply], None]) -> None:
        loaded = _PRELOADED.pop(agent.spec, None) or _load(agent.spec)
        if agent.sha256 is not None and loaded.sha256 != agent.sha256:
            raise RuntimeError(f"agent {agent.spec!r} here has sha256 {loaded.sha256}, the orchestrator's "
                               f"{agent.sha256}: the file differs on this machine")
        self.worker, self.agent, self._factory = worker, agent, loaded.factory
        self._rules = EpisodeRules.of(worker.protocol, action_noise=agent.action_noise, collect=agent.collect)
        self._policies: dict[int, Policy] = {}
        self._batched: Policy | None = None
        self._episodes: dict[int, Episode] = {}
        self._results: list[Result] = []
        self._send = send
        self._watchdog = Watchdog(agent.policy_timeout, send, self._results)

    def handle(self, batch: Batch) -> Reply:
        self._results.clear()
        for item in batch.items:
            if isinstance(item, RunItem):
                self._start(item)
            else:
                self._results.append(self.worker.handle_item(item))
        deadline = time.monotonic() + self.agent.heartbeat
        while self._episodes and not self._results and time.monotonic() < deadline:
            self._round()
        return Reply(list(self._results), first_step_at=self.worker.take_first_step_at())

    def send(self, reply: Reply) -> None:
        with self._watchdog.lock:
            self._send(reply)

    # --------------------------------------------------------------------------------------- episodes
    def _policy(self, slot: int) -> Policy:
        if self._batched is not None:
            return self._batched
        if slot not in self._policies:
            policy = self._factory()
            if is_batched(policy):  # a batched policy is stateless: one instance serves every slot
                self._batched = policy
                return policy
            self._policies[slot] = policy
        return self._policies[slot]

    def _start(self, item: RunItem) -> None:
        episode = Episode(item.episode, self._rules, item.attempt)
        try:
            started = self.worker.reset(item.slot, item.episode, item.record)
        except Exception as exc:  # noqa: BLE001 - an environment fault fails this episode only
            self.worker.discard(item.slot)
            self._results.append(ItemError(item.slot, describe_exception(exc), "env_error"))
            return
        task = episode.on_reset(started.task, started.observation)
        self._episodes[item.slot] = episode
        began = time.perf_counter()
        self._watchdog.arm([item.slot], [0], reset=True)
        try:
            self._policy(item.slot).reset(task)
        except BaseException as exc:  # noqa: BLE001 - user code; never ends the worker
            self._finish(item.slot, ("policy_error", f"policy.reset raised {describe_exception(exc)}"))
        finally:
            self._watchdog.disarm()
            episode.policy_seconds += time.perf_counter() - began

    def _round(self) -> None:
        needing = [(slot, ep) for slot, ep in self._episodes.items() if ep.needs_policy]
        if needing:
            requests = [PolicyRequest(self._policy(slot), ep.observation, ep.task.action_dim)  # type: ignore[arg-type,union-attr]
                        for slot, ep in needing]

            def arm(indices: list[int]) -> None:
                self._watchdog.arm([needing[i][0] for i in indices], [needing[i][1].length for i in indices])

            began = time.perf_counter()
            outcomes = call_directly(requests, before=arm)
            self._watchdog.disarm()
            share = (time.perf_counter() - began) / len(needing)
            for (slot, episode), outcome in zip(needing, outcomes, strict=True):
                episode.policy_seconds += share
                if isinstance(outcome, PolicyFault):
                    self._finish(slot, (outcome.kind, f"{outcome} (at step {episode.length})"))
                else:
                    episode.add_chunk(outcome)
        for slot, episode in list(self._episodes.items()):
            if episode.observation is None or not episode.chunk:
                continue
            action = episode.next_action()
            began = time.perf_counter()
            try:
                result = self.worker.step(slot, action)
            except Exception as exc:  # noqa: BLE001 - an environment fault fails this episode only
                self.worker.discard(slot)
                self._finish(slot, ("env_error", describe_exception(exc)))
                continue
            episode.env_seconds += time.perf_counter() - began
            if episode.on_step(result):
                self._finish(slot)

    def _finish(self, slot: int, error: tuple[str, str] | None = None) -> None:
        episode = self._episodes.pop(slot)
        self.worker.end(slot)
        record = episode.record(error)
        trajectory = episode.finished_trajectory(record)
        self._results.append(Finished(slot, record, None if trajectory is None else trajectory_to_wire(trajectory)))
