"""Env worker processes: launching them (a strategy: subprocess here, a Ray actor in ``ray_executor.py``),
the version handshake, and stopping them.

Workers may run in a benchmark's own interpreter (``config.python``, chosen by ``vla_bench.runtimes``): they
then get this process's vla_bench package through PYTHONPATH and only the ``sys.path`` entries that are not
this environment's own packages. A worker that cannot start or runs other vla_bench code (``handshake.py``)
raises :class:`WorkerStartError` naming why.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import JsonValue

from vla_bench.harness import prestart
from vla_bench.harness.executor_config import ExecutorConfig
from vla_bench.harness.framing import recv_message, send_message
from vla_bench.harness.handshake import identity, mismatch
from vla_bench.harness.prestart import render_threads
from vla_bench.harness.worker_path import worker_sys_path
from vla_bench.spec import Protocol as EvalProtocol
from vla_bench.spec.errors import UserError
from vla_bench.spec.messages import AgentRef, Close, Hello, Ready

if TYPE_CHECKING:
    from vla_bench.harness.lanes import Lane


class WorkerStartError(UserError):
    """An env worker that did not start, or runs vla_bench code this orchestrator cannot talk to."""


class PolicyLoadError(WorkerStartError):
    """The worker started but cannot load the agent itself (the policy must stay in the orchestrator)."""


class WorkerProcess(Protocol):
    """What the executor needs of an env worker's process (a ``subprocess.Popen``, or a remote stand-in)."""

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...  # raises subprocess.TimeoutExpired

    def kill(self) -> None: ...


@dataclass
class Launched:
    process: WorkerProcess
    sock: socket.socket
    tail: Callable[[int], str]  # the last lines of the worker's output, joined
    cleanup: Callable[[], None] = lambda: None


class Launcher(Protocol):
    """Where worker processes live: :class:`SubprocessLauncher`, or Ray actors."""

    def launch(self, index: int) -> Launched: ...

    def close(self) -> None: ...


class SubprocessLauncher:
    """Workers as child processes of this one, connected by a socket pair; their output goes to a file."""

    def __init__(self, config: ExecutorConfig) -> None:
        self.config = config
        self._dir = tempfile.TemporaryDirectory(prefix="vla-bench-workers-")

    def launch(self, index: int) -> Launched:
        config = self.config
        waiting = prestart.take(config.python, config.isolated, config.worker_env, config.workers)
        if waiting is not None:  # started while the orchestrator was getting ready
            return Launched(waiting.process, waiting.sock, lambda lines: _tail(waiting.log, lines))
        parent, child = socket.socketpair()
        log = Path(self._dir.name) / f"worker-{index}-{time.monotonic_ns()}.log"
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        env.update(self.config.worker_env)
        if self.config.isolated:
            # our vla_bench, and nothing else of this environment: the runtime's own packages must win
            env["PYTHONPATH"] = os.pathsep.join(p for p in (self._package_path(), self.config.worker_env.get(
                "PYTHONPATH", "")) if p)
            env.setdefault("PYTHONSAFEPATH", "1")  # `-m` would put the cwd (maybe another checkout) first; 3.11+
        env.setdefault("LP_NUM_THREADS", str(render_threads(self.config.workers)))
        with log.open("wb") as output:
            process = subprocess.Popen(
                [self.config.python, "-m", "vla_bench.harness.env_worker", "--fd", str(child.fileno())],
                pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, stdout=output, stderr=output, env=env,
            )
        child.close()
        return Launched(process, parent, lambda lines: _tail(log, lines))

    def _package_path(self) -> str:
        """A directory holding only a link to this process's vla_bench package (for isolated workers)."""
        folder = Path(self._dir.name) / "pythonpath"
        link = folder / "vla_bench"
        if not link.exists():
            folder.mkdir(exist_ok=True)
            link.symlink_to(Path(__file__).resolve().parents[1], target_is_directory=True)
        return str(folder)

    def close(self) -> None:
        self._dir.cleanup()


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output)"
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "(no output)"


@dataclass
class Worker:
    index: int
    launched: Launched
    lanes: list[Lane] = field(default_factory=list)  # the executor's lanes of this worker's slots
    in_flight: deque[Lane] = field(default_factory=deque)
    busy_since: float = 0.0
    exclusive: bool = False  # hosting a retried episode alone
    pid: int | None = None  # the worker process's id, as it reported it in the handshake
    identity: dict[str, str | int] = field(default_factory=dict)  # what the hello told the worker about us

    @property
    def sock(self) -> socket.socket:
        return self.launched.sock

    @property
    def process(self) -> WorkerProcess:
        return self.launched.process

    def live(self) -> int:
        return sum(len(lane.episodes) for lane in self.lanes)

    def readable(self) -> bool:
        try:
            return bool(select.select([self.sock], [], [], 0)[0])
        except (OSError, ValueError):  # closed: the next read reports the crash
            return True


class WorkerPool:
    """Starts, greets and stops workers through a launcher."""

    def __init__(self, protocol: EvalProtocol, config: ExecutorConfig, launcher: Launcher) -> None:
        self.protocol, self.config, self.launcher = protocol, config, launcher
        self.agent: AgentRef | None = None  # set when the policy is placed in the workers
        self.simulator: dict[str, JsonValue] = {}
        self.env_memory_gb: float | None = None  # the benchmark's declared cost per environment

    def start(self, index: int) -> Worker:
        worker = Worker(index=index, launched=self.launcher.launch(index), identity=identity())
        with contextlib.suppress(OSError):  # a worker that died at start: the handshake reports it
            send_message(worker.sock, Hello(worker.identity, self.protocol.canonical_json(), self._sys_path(),
                                            self.agent))
        return worker

    def start_all(self, count: int) -> tuple[list[Worker], WorkerStartError | None]:
        """Start ``count`` workers at once (they start in parallel) and greet each: (the started ones, the last
        start fault). A policy that the workers cannot load stops them all (the caller may fall back)."""
        launched = [self.start(i) for i in range(count)]
        started: list[Worker] = []
        fault: WorkerStartError | None = None
        for worker in launched:
            try:
                self.handshake(worker)
                started.append(worker)
            except WorkerStartError as exc:
                fault = exc
                self.stop(worker, graceful=False)
        if isinstance(fault, PolicyLoadError):
            for worker in started:
                self.stop(worker, graceful=False)
            raise fault
        return started, fault

    def _sys_path(self) -> list[str]:
        paths = worker_sys_path(sys.path, agent_spec=self.agent.spec if self.agent else None)  # not the user's cwd
        if not self.config.isolated:
            return paths
        # drop this environment's stdlib and site-packages: a runtime pins other versions of those packages
        own = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
        return [p for p in paths if not any(Path(p or ".").resolve().is_relative_to(o) for o in own)]

    def handshake(self, worker: Worker) -> None:
        """Wait for the worker's Ready; raises :class:`WorkerStartError` (or :class:`PolicyLoadError`)."""
        worker.sock.settimeout(max(self.config.start_timeout, self.config.env_timeout))
        where = f"env worker for {self.protocol.id}"
        try:
            reply = recv_message(worker.sock)
        except (OSError, ConnectionError, ValueError) as exc:
            raise WorkerStartError(f"{where} did not start ({self.config.python}): {exc}. "
                                   f"Its output: {worker.launched.tail(8)}") from exc
        if not isinstance(reply, Ready):
            raise WorkerStartError(f"{where} answered the hello with {type(reply).__name__}")
        if not reply.ok:
            if reply.kind == "version_mismatch":
                raise WorkerStartError(str(reply.error))
            if reply.kind == "policy":
                raise PolicyLoadError(f"the {where} cannot load the agent itself: {reply.error}")
            raise WorkerStartError(f"cannot start benchmark {self.protocol.adapter!r} for {self.protocol.id} "
                                   f"(env worker python: {self.config.python}): {reply.error}")
        problem = mismatch(worker.identity, reply.identity)
        if problem is not None:
            raise WorkerStartError(problem)
        theirs = reply.identity
        self.simulator = {**reply.simulator, "env_worker": {
            "python": theirs.get("python"), "python_version": theirs.get("python_version"),
            "vla_bench": theirs.get("vla_bench")}}
        worker.pid = reply.pid
        self.env_memory_gb = reply.env_memory_gb
        worker.sock.settimeout(self.config.env_timeout)  # bounds reading the rest of a started frame

    def stop(self, worker: Worker, *, graceful: bool) -> None:
        process = worker.process
        if graceful and process.poll() is None:
            try:
                send_message(worker.sock, Close())
                process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if process.poll() is None:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        worker.sock.close()
        worker.launched.cleanup()

    def crash_reason(self, worker: Worker) -> str:
        try:
            code: int | None = worker.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        if code is not None and code < 0:
            status = f"killed by signal {signal.Signals(-code).name}"
        else:
            status = f"exited with code {code}" if code is not None else "closed its connection"
        return f"env worker crashed ({status}); its last output: {worker.launched.tail(8)}"
