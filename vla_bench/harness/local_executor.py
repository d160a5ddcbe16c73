"""The local executor: env workers in subprocesses, policy calls batched in this process.

Each worker hosts ``envs_per_worker`` environment slots, split into two lanes. A lane is one request in
flight: while the worker steps one lane's environments, this process computes the other lane's actions,
so neither side waits on the other. Policy calls are batched over a lane's live episodes.

Faults stay with their episode: a policy that raises, hangs or returns a bad action fails that episode; an
environment exception fails that item; a worker that crashes or hangs is killed and replaced. When a
worker dies with several live episodes, the culprit is unknown: each of them is run again alone on a
worker, and only an episode that also fails alone is recorded as failed.

Workers may run in a benchmark's own interpreter (``config.python``, chosen by ``vla_bench.runtimes``): they
then get this process's vla_bench package through PYTHONPATH and only the ``sys.path`` entries that are not
this environment's own packages. A worker that cannot start or runs other vla_bench code (the handshake,
``handshake.py``) fails the episodes it would have run, naming why; the run goes on with the workers that did
start, and stops with that reason when none did.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import select
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any
from typing import Protocol as TypingProtocol

import numpy as np
from numpy.typing import NDArray

from vla_bench.agents.policy import LoadedAgent, Policy
from vla_bench.harness.framing import recv_message, send_message
from vla_bench.harness.handshake import identity, mismatch
from vla_bench.harness.policy_calls import PolicyFault, PolicyRequest, TimedCaller, compute_actions
from vla_bench.harness.trajectory import Trajectory, TrajectorySink, action_noise_rng
from vla_bench.spec import (
    CHAIN_INDEX_KEY,
    SUBTASKS_COMPLETED_KEY,
    EpisodeRecord,
    EpisodeSpec,
    Observation,
    Protocol,
    TaskSpec,
)
from vla_bench.spec.errors import UserError, describe_exception


@dataclass
class ExecutorConfig:
    workers: int = 1
    envs_per_worker: int = 8
    policy_timeout: float | None = 60.0  # seconds per policy call (one step of every episode in a batch)
    env_timeout: float = 300.0  # seconds a worker may take for one request (a reset may build a scene)
    # seconds a worker may take to start and answer the hello (imports, adapter); at least env_timeout. Separate
    # because a short env_timeout (hang detection) must not fail a worker whose imports are slow on a busy machine
    start_timeout: float = 120.0
    record: frozenset[tuple[str, int]] = frozenset()  # episode keys to record as video
    video_dir: Path | None = None
    schedule_seed: int | None = None  # shuffle the order episodes are started in (tests of plan invariance)
    trajectory_sink: TrajectorySink | None = None  # receives each episode's per-step data (dataset collection)
    action_noise: float = 0.0  # std of Gaussian noise added to actions before clipping (dataset collection)
    python: str = sys.executable  # interpreter of the env workers
    isolated: bool = False  # `python` is another environment (a benchmark runtime): see the module docstring
    worker_env: dict[str, str] = field(default_factory=dict)  # extra environment variables of the workers


def _readable(sock: socket.socket) -> bool:
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):  # closed: the next read reports the crash
        return True


class WorkerStartError(UserError):
    """An env worker that did not start, or runs vla_bench code this orchestrator cannot talk to."""


@dataclass
class _Episode:
    spec: EpisodeSpec
    attempt: int = 0
    policy: Policy | None = None
    task: TaskSpec | None = None
    observation: Observation | None = None
    chunk: deque[NDArray[np.float32]] = field(default_factory=deque)
    low: NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))  # set at reset
    high: NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    total_return: float = 0.0
    length: int = 0
    success: bool = False
    success_step: int | None = None
    terminated: bool = False
    truncated: bool = False
    clipped_steps: int = 0
    previous_action: NDArray[np.float32] | None = None
    smoothness_sum: float = 0.0
    env_seconds: float = 0.0
    policy_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    recording: bool = False
    chain_index: int | None = None  # chain protocols: reported by the session in its step info
    subtasks_completed: int | None = None
    trajectory: Trajectory | None = None
    noise: np.random.Generator | None = None


@dataclass
class _Lane:
    worker: _Worker
    slot_ids: list[int]
    episodes: dict[int, _Episode] = field(default_factory=dict)
    ended: list[int] = field(default_factory=list)  # slots whose recording must be closed
    sent_at: float = 0.0

    def free_slots(self) -> list[int]:
        return [s for s in self.slot_ids if s not in self.episodes]


class WorkerProcess(TypingProtocol):
    """What the executor needs of an env worker's process (a ``subprocess.Popen``, or a remote stand-in)."""

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...  # raises subprocess.TimeoutExpired

    def kill(self) -> None: ...


@dataclass
class _Worker:
    index: int
    process: WorkerProcess
    sock: socket.socket
    stderr: IO[bytes]
    lanes: list[_Lane] = field(default_factory=list)
    in_flight: deque[_Lane] = field(default_factory=deque)
    busy_since: float = 0.0
    exclusive: bool = False  # hosting a retried episode alone
    pid: int | None = None  # the worker process's id, as it reported it in the handshake
    identity: dict[str, Any] = field(default_factory=dict)  # what the hello told the worker about us

    def live(self) -> int:
        return sum(len(lane.episodes) for lane in self.lanes)


RecordSink = Callable[[EpisodeRecord], None]


class LocalExecutor:
    def __init__(self, protocol: Protocol, agent: LoadedAgent, config: ExecutorConfig) -> None:
        self.protocol = protocol
        self.agent = agent
        self.config = config
        self.simulator: dict[str, Any] = {}
        self._selector = selectors.DefaultSelector()
        self._caller = TimedCaller()
        self._workers: list[_Worker] = []
        self._queue: deque[_Episode] = deque()
        self._retries: deque[_Episode] = deque()
        self._shared_policy: Policy | None = None
        self._slot_policies: dict[tuple[int, int], Policy] = {}
        self._sink: RecordSink = lambda record: None
        self._stderr_dir = tempfile.TemporaryDirectory(prefix="vla-bench-workers-")

    # ----------------------------------------------------------------------------------------------- run
    def run(self, plan: Iterable[EpisodeSpec], sink: RecordSink) -> None:
        self._sink = sink
        specs = list(plan)
        if self.config.schedule_seed is not None:
            random.Random(self.config.schedule_seed).shuffle(specs)
        self._queue = deque(_Episode(spec) for spec in specs)
        if not self._queue:
            return
        try:
            count = max(1, min(self.config.workers, len(self._queue)))
            launched = [self._start_worker(i) for i in range(count)]
            fault: WorkerStartError | None = None
            for worker in launched:
                try:
                    self._handshake(worker)
                    self._workers.append(worker)
                except WorkerStartError as exc:
                    fault = exc
                    self._stop_worker(worker, graceful=False)
            if not self._workers:
                assert fault is not None
                self._fail_remaining(fault)
            for worker in self._workers:
                for lane in worker.lanes:
                    self._advance(lane)
            self._loop()
        finally:
            self.close()

    def close(self) -> None:
        for worker in self._workers:
            self._stop_worker(worker, graceful=True)
        self._workers = []
        self._selector.close()
        self._stderr_dir.cleanup()
        self._close_policies()

    def _close_policies(self) -> None:
        """Policies this run made with the agent's factory may hold connections (``ws://``): close() them."""
        if self.agent.shared:  # the user's own object: theirs to close
            return
        made = [*self._slot_policies.values(), *([self._shared_policy] if self._shared_policy is not None else [])]
        self._slot_policies.clear()
        self._shared_policy = None
        for policy in made:
            close = getattr(policy, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()

    # ------------------------------------------------------------------------------------------ workers
    def _launch_worker(self, index: int) -> tuple[WorkerProcess, socket.socket, IO[bytes]]:
        """Start env worker ``index``: its process, a connected socket to it, and the file of its output."""
        parent, child = socket.socketpair()
        stderr = open(Path(self._stderr_dir.name) / f"worker-{index}-{time.monotonic_ns()}.log", "w+b")  # noqa: SIM115
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        env.update(self.config.worker_env)
        if self.config.isolated:
            # our vla_bench, and nothing else of this environment: the runtime's own packages must win
            env["PYTHONPATH"] = os.pathsep.join(p for p in (self._package_path(), self.config.worker_env.get(
                "PYTHONPATH", "")) if p)
            env.setdefault("PYTHONSAFEPATH", "1")  # `-m` would put the cwd (maybe another checkout) first; 3.11+
        # Mesa's software renderer (llvmpipe) starts a thread per core in every process: with several workers
        # they fight over the cores, so each worker gets its share of them (measured: 1.35x -> see bench/)
        env.setdefault("LP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, self.config.workers))))
        process = subprocess.Popen(
            [self.config.python, "-m", "vla_bench.harness.env_worker", "--fd", str(child.fileno())],
            pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr, env=env,
        )
        child.close()
        return process, parent, stderr

    def _start_worker(self, index: int) -> _Worker:
        process, parent, stderr = self._launch_worker(index)
        worker = _Worker(index=index, process=process, sock=parent, stderr=stderr)
        n = max(1, self.config.envs_per_worker)
        base = index * n
        ids = list(range(base, base + n))
        halves = [ids[: (n + 1) // 2], ids[(n + 1) // 2:]] if n > 1 else [ids]
        worker.lanes = [_Lane(worker=worker, slot_ids=half) for half in halves if half]
        worker.identity = identity()
        with contextlib.suppress(OSError):  # a worker that died at start: the handshake reports it
            send_message(parent, {"op": "init", "identity": worker.identity, "protocol": self.protocol.canonical_json(),
                                  "sys_path": self._worker_sys_path()})
        return worker

    def _package_path(self) -> str:
        """A directory holding only a link to this process's vla_bench package (for isolated workers)."""
        folder = Path(self._stderr_dir.name) / "pythonpath"
        link = folder / "vla_bench"
        if not link.exists():
            folder.mkdir(exist_ok=True)
            link.symlink_to(Path(__file__).resolve().parents[1], target_is_directory=True)
        return str(folder)

    def _worker_sys_path(self) -> list[str]:
        if not self.config.isolated:
            return sys.path
        # drop this environment's stdlib and site-packages: a runtime pins other versions of those packages
        own = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
        return [p for p in sys.path if not any(Path(p or ".").resolve().is_relative_to(o) for o in own)]

    def _handshake(self, worker: _Worker) -> None:
        worker.sock.settimeout(max(self.config.start_timeout, self.config.env_timeout))
        try:
            reply = recv_message(worker.sock)
        except (OSError, ConnectionError) as exc:
            raise WorkerStartError(f"env worker for {self.protocol.id} did not start ({self.config.python}): "
                                   f"{exc}. Its output: {self._stderr_tail(worker)}") from exc
        if not isinstance(reply, dict):
            raise WorkerStartError(f"env worker for {self.protocol.id} answered the hello with {type(reply).__name__}")
        if not reply.get("ok"):
            if reply.get("kind") == "version_mismatch":
                raise WorkerStartError(str(reply.get("error")))
            raise WorkerStartError(f"cannot start benchmark {self.protocol.adapter!r} for {self.protocol.id} "
                                   f"(env worker python: {self.config.python}): {reply.get('error')}")
        problem = mismatch(worker.identity, reply.get("identity"))
        if problem is not None:
            raise WorkerStartError(problem)
        theirs = reply["identity"]
        self.simulator = {**reply.get("simulator", {}), "env_worker": {
            "python": theirs.get("python"), "python_version": theirs.get("python_version"),
            "vla_bench": theirs.get("vla_bench")}}
        worker.pid = reply.get("pid")
        worker.sock.settimeout(self.config.env_timeout)  # bounds reading the rest of a started frame
        self._selector.register(worker.sock, selectors.EVENT_READ, worker)

    def _fail_remaining(self, fault: WorkerStartError) -> None:
        """No env worker can run: every episode not run yet fails with the reason, then the run stops."""
        while self._queue or self._retries:
            episode = (self._queue or self._retries).popleft()
            self._sink(_error_record(episode.spec, "env_error", str(fault), self.protocol.has_success))
        raise WorkerStartError(f"{fault} (every episode not run yet was recorded as failed with this reason)")

    def _stop_worker(self, worker: _Worker, *, graceful: bool) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(worker.sock)
        if graceful and worker.process.poll() is None:
            try:
                send_message(worker.sock, {"op": "close"})
                worker.process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()
        worker.sock.close()
        worker.stderr.close()

    def _stderr_tail(self, worker: _Worker, lines: int = 8) -> str:
        try:
            worker.stderr.flush()
            text = Path(worker.stderr.name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no output)"
        tail = [line for line in text.strip().splitlines() if line.strip()][-lines:]
        return " | ".join(tail) if tail else "(no output)"

    # ------------------------------------------------------------------------------------------- loop
    def _loop(self) -> None:
        while True:
            if not any(worker.in_flight for worker in self._workers):
                for worker in self._workers:  # e.g. a retry waiting for an idle worker
                    for lane in worker.lanes:
                        self._advance(lane)
                if not any(worker.in_flight for worker in self._workers):
                    return
            for key, _ in self._selector.select(timeout=self._seconds_to_next_deadline()):
                ready: _Worker = key.data
                if not ready.in_flight:
                    continue
                try:
                    reply = recv_message(ready.sock)
                except (OSError, ConnectionError, ValueError):
                    self._replace_worker(ready, "env_crash", self._crash_reason(ready))
                    continue
                lane = ready.in_flight.popleft()
                ready.busy_since = time.perf_counter()
                self._on_reply(lane, reply)
                self._advance(lane)
                for other in ready.lanes:
                    self._advance(other)  # an idle lane may have work now (a freed worker, a retry)
            now = time.perf_counter()
            for worker in list(self._workers):
                # a reply that arrived while this loop was busy elsewhere (policy calls, restarting another
                # worker) is read on the next pass: only a worker that has not answered is hung
                if (worker.in_flight and now - worker.busy_since > self.config.env_timeout
                        and not _readable(worker.sock)):
                    self._replace_worker(
                        worker, "env_timeout",
                        f"env worker did not answer within {self.config.env_timeout:g} s (hung); it was killed",
                    )

    def _seconds_to_next_deadline(self) -> float:
        now = time.perf_counter()
        deadlines = [w.busy_since + self.config.env_timeout - now for w in self._workers if w.in_flight]
        return max(0.0, min(deadlines)) if deadlines else 0.0

    def _crash_reason(self, worker: _Worker) -> str:
        try:
            code = worker.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None and code < 0:
            status = f"killed by signal {signal.Signals(-code).name}"
        else:
            status = f"exited with code {code}" if code is not None else "closed its connection"
        return f"env worker crashed ({status}); its last output: {self._stderr_tail(worker)}"

    def _replace_worker(self, worker: _Worker, kind: str, reason: str) -> None:
        live = [(lane, slot, ep) for lane in worker.lanes for slot, ep in lane.episodes.items()]
        for lane, slot, episode in live:
            self._slot_policies.pop((worker.index, slot), None)  # its state is unknown now
            if len(live) == 1 or episode.attempt > 0:
                self._finish(lane, slot, error=(kind, reason), close_recording=False)
            else:
                del lane.episodes[slot]
                self._retries.append(_Episode(episode.spec, attempt=episode.attempt + 1))
        self._stop_worker(worker, graceful=False)
        replacement = self._start_worker(worker.index)
        try:
            self._handshake(replacement)
        except WorkerStartError as exc:
            self._stop_worker(replacement, graceful=False)
            self._workers.remove(worker)  # the run goes on with the others, if any
            if not self._workers:
                self._fail_remaining(exc)
        else:
            self._workers[self._workers.index(worker)] = replacement
            for lane in replacement.lanes:
                self._advance(lane)
        for other in self._workers:  # a retry may be waiting for any idle worker
            if not other.in_flight:
                for lane in other.lanes:
                    self._advance(lane)

    # ------------------------------------------------------------------------------------ episode logic
    def _policy_for(self, worker: _Worker, slot: int) -> Policy:
        if self.agent.shared or self._shared_policy is not None:
            if self._shared_policy is None:
                self._shared_policy = self.agent.factory()
            return self._shared_policy
        key = (worker.index, slot)
        if key not in self._slot_policies:
            policy = self.agent.factory()
            if callable(getattr(policy, "act_batch", None)):
                self._shared_policy = policy  # a batched policy is stateless: one instance serves all
                return policy
            self._slot_policies[key] = policy
        return self._slot_policies[key]

    def _on_reply(self, lane: _Lane, reply: list[dict[str, Any]]) -> None:
        for result in reply:
            slot = int(result["slot"])
            episode = lane.episodes.get(slot)
            if episode is None or result.get("ended"):
                continue
            if "error" in result:
                self._finish(lane, slot, error=(result.get("kind", "env_error"), str(result["error"])),
                             close_recording=False)
            elif "task_spec" in result:
                self._on_reset(lane, slot, episode, result)
            else:
                self._on_step(lane, slot, episode, result)

    def _on_reset(self, lane: _Lane, slot: int, episode: _Episode, result: dict[str, Any]) -> None:
        data = dict(result["task_spec"])
        data["action_low"], data["action_high"] = tuple(data["action_low"]), tuple(data["action_high"])
        data["cameras"] = tuple(data.get("cameras") or ())
        episode.task = replace(TaskSpec(**data), episode_seed=episode.spec.seed)
        episode.low = np.asarray(episode.task.action_low, dtype=np.float32)
        episode.high = np.asarray(episode.task.action_high, dtype=np.float32)
        episode.observation = result["observation"]
        if self.config.trajectory_sink is not None:
            episode.trajectory = Trajectory()
            episode.trajectory.observe(result["observation"])
        if self.config.action_noise > 0:
            episode.noise = action_noise_rng(episode.spec.seed)
        policy = self._policy_for(lane.worker, slot)
        episode.policy = policy
        task = episode.task
        started = time.perf_counter()
        try:
            self._caller.call(lambda: policy.reset(task), self.config.policy_timeout)
        except TimeoutError:
            self._slot_policies.pop((lane.worker.index, slot), None)
            self._finish(lane, slot, error=("policy_timeout", "policy.reset took longer than the per-step limit "
                                                              f"of {self.config.policy_timeout:g} s"))
        except Exception as exc:  # noqa: BLE001 - user code
            self._finish(lane, slot, error=("policy_error", f"policy.reset raised {describe_exception(exc)}"))
        episode.policy_seconds += time.perf_counter() - started

    def _on_step(self, lane: _Lane, slot: int, episode: _Episode, result: dict[str, Any]) -> None:
        episode.env_seconds += time.perf_counter() - lane.sent_at
        episode.length += 1
        episode.total_return += float(result["reward"])
        if result["success"] and not episode.success:
            episode.success, episode.success_step = True, episode.length
        episode.terminated, episode.truncated = bool(result["terminated"]), bool(result["truncated"])
        episode.observation = result["observation"]
        info = result.get("info") or {}
        if SUBTASKS_COMPLETED_KEY in info:  # a chain session's progress: the last value reported counts
            episode.subtasks_completed = int(info[SUBTASKS_COMPLETED_KEY])
            episode.chain_index = int(info[CHAIN_INDEX_KEY])
        if episode.trajectory is not None:
            episode.trajectory.rewards.append(float(result["reward"]))
            episode.trajectory.terminals.append(episode.terminated)
            episode.trajectory.observe(result["observation"])
        done = (episode.terminated or episode.truncated or episode.length >= self.protocol.max_steps
                or (self.protocol.terminate_on_success and episode.success))
        if done:
            episode.truncated = episode.truncated or (episode.length >= self.protocol.max_steps
                                                      and not episode.terminated)
            self._finish(lane, slot)

    def _finish(self, lane: _Lane, slot: int, error: tuple[str, str] | None = None,
                close_recording: bool = True) -> None:
        episode = lane.episodes.pop(slot)
        if episode.recording and close_recording:
            lane.ended.append(slot)
        if episode.attempt > 0:
            lane.worker.exclusive = False
        spec = episode.spec
        steps = max(episode.length - 1, 0)
        record = EpisodeRecord(
            task=spec.task,
            episode_index=spec.episode_index,
            seed=spec.seed,
            init_index=spec.init_index,
            total_return=episode.total_return,
            length=episode.length,
            success=(episode.success and error is None) if self.protocol.has_success else None,
            success_step=episode.success_step if self.protocol.has_success and error is None else None,
            terminated=episode.terminated,
            truncated=episode.truncated,
            error=error[1] if error else None,
            error_kind=error[0] if error else None,
            clipped_steps=episode.clipped_steps,
            action_smoothness=episode.smoothness_sum / steps if steps else None,
            timings={
                "wall_s": round(time.perf_counter() - episode.started, 6),
                "env_s": round(episode.env_seconds, 6),
                "policy_s": round(episode.policy_seconds, 6),
            },
            chain_index=episode.chain_index,
            subtasks_completed=episode.subtasks_completed,
        )
        self._sink(record)
        if episode.trajectory is not None and self.config.trajectory_sink is not None:
            trajectory = episode.trajectory
            del trajectory.observations[len(trajectory.actions):]  # the last one is only a next observation
            if trajectory.actions:
                trajectory.timeouts = [False] * (len(trajectory.actions) - 1) + [record.truncated]
                self.config.trajectory_sink(record, trajectory)

    def _take_next(self, lane: _Lane) -> _Episode | None:
        worker = lane.worker
        if worker.exclusive:
            return None
        if self._retries:
            # a retried episode runs alone on its worker; others drain until one is empty
            if worker.live() == 0:
                worker.exclusive = True
                return self._retries.popleft()
            return None
        return self._queue.popleft() if self._queue else None

    def _advance(self, lane: _Lane) -> None:
        """Build and send the lane's next request: close recordings, start new episodes, step live ones."""
        if lane in lane.worker.in_flight:
            return
        items: list[dict[str, Any]] = [{"slot": slot, "end": True} for slot in lane.ended]
        lane.ended.clear()
        while True:
            resets = self._reset_items(lane)
            live_before = len(lane.episodes)
            steps = self._step_items(lane)
            items.extend(resets + steps)
            # Loop only when episodes failed on their policy call and freed slots with nothing sent yet:
            # each round either sends work or ends an episode, so this terminates.
            if resets or steps or len(lane.episodes) == live_before:
                break
        if not items:
            return
        lane.sent_at = time.perf_counter()
        worker = lane.worker
        if not worker.in_flight:
            worker.busy_since = lane.sent_at
        worker.in_flight.append(lane)
        with contextlib.suppress(OSError):  # a worker that is gone: the loop sees its closed socket
            send_message(worker.sock, {"op": "batch", "items": items})

    def _reset_items(self, lane: _Lane) -> list[dict[str, Any]]:
        items = []
        for slot in lane.free_slots():
            episode = self._take_next(lane)
            if episode is None:
                break
            lane.episodes[slot] = episode
            item: dict[str, Any] = {"slot": slot, "reset": _spec_json(episode.spec)}
            if episode.spec.key in self.config.record and self.config.video_dir is not None:
                episode.recording = True
                name = f"{episode.spec.task}-{episode.spec.episode_index:04d}.mp4"
                item["record"] = str(self.config.video_dir / name)
            items.append(item)
        return items

    def _step_items(self, lane: _Lane) -> list[dict[str, Any]]:
        waiting = [(slot, ep) for slot, ep in lane.episodes.items() if ep.observation is not None]
        needing = [(slot, ep) for slot, ep in waiting if not ep.chunk]
        if needing:
            requests = [PolicyRequest(ep.policy, ep.observation, ep.task.action_dim)  # type: ignore[arg-type,union-attr]
                        for _, ep in needing]
            started = time.perf_counter()
            outcomes = compute_actions(requests, self._caller, self.config.policy_timeout)
            share = (time.perf_counter() - started) / len(needing)
            for (slot, episode), outcome in zip(needing, outcomes, strict=True):
                episode.policy_seconds += share
                if isinstance(outcome, PolicyFault):
                    if outcome.kind == "policy_timeout":
                        self._slot_policies.pop((lane.worker.index, slot), None)
                    self._finish(lane, slot, error=(outcome.kind, f"{outcome} (at step {episode.length})"))
                else:
                    episode.chunk.extend(outcome)
        items = []
        for slot, episode in list(lane.episodes.items()):
            if episode.observation is None or not episode.chunk:
                continue
            items.append({"slot": slot, "action": self._execute(episode, episode.chunk.popleft())})
            episode.observation = None
        return items

    def _execute(self, episode: _Episode, action: NDArray[np.float32]) -> NDArray[np.float32]:
        if episode.noise is not None:
            action = action + episode.noise.normal(0.0, self.config.action_noise, action.shape).astype(np.float32)
        clipped = np.minimum(np.maximum(action, episode.low), episode.high)
        if (clipped != action).any() and episode.noise is None:  # noise pushing past a bound is not the policy's
            episode.clipped_steps += 1
        if episode.previous_action is not None:
            delta = clipped - episode.previous_action
            episode.smoothness_sum += math.sqrt(float(delta @ delta))
        episode.previous_action = clipped
        if episode.trajectory is not None:
            episode.trajectory.actions.append(clipped)
        return clipped


def _error_record(spec: EpisodeSpec, kind: str, reason: str, has_success: bool) -> EpisodeRecord:
    """The record of an episode that never ran (no env worker could host it)."""
    return EpisodeRecord(task=spec.task, episode_index=spec.episode_index, seed=spec.seed, init_index=spec.init_index,
                         total_return=0.0, length=0, success=False if has_success else None, success_step=None,
                         terminated=False, truncated=False, error=reason, error_kind=kind, clipped_steps=0,
                         action_smoothness=None, timings={"wall_s": 0.0, "env_s": 0.0, "policy_s": 0.0})


def _spec_json(spec: EpisodeSpec) -> dict[str, Any]:
    return {"task": spec.task, "task_index": spec.task_index, "episode_index": spec.episode_index,
            "seed": spec.seed, "init_index": spec.init_index}
