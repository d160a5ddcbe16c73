"""Env workers started before the orchestrator is ready, so that their start-up overlaps its own.

``vla-bench eval`` calls :func:`prestart` first thing: the worker processes import their simulator and load
the agent (``--preload``) while this process imports the harness, loads the agent and writes the bundle's
first files. The executor's subprocess launcher then takes them (:func:`take`) instead of starting new ones,
provided they match what it needs (this interpreter, no runtime environment of its own); any not taken are
stopped at exit. Cheap to import: nothing of the harness is loaded here.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Prestarted:
    process: subprocess.Popen[bytes]
    sock: socket.socket
    log: Path
    workers: int  # the worker count it was started for (its render threads depend on it)


_WAITING: list[Prestarted] = []
_LOG_DIR: list[tempfile.TemporaryDirectory[str]] = []


def prestart(count: int, protocol: str, agent: str | None) -> None:
    """Start ``count`` env workers preloading ``protocol``'s benchmark (and ``agent``, when given)."""
    if not _LOG_DIR:
        _LOG_DIR.append(tempfile.TemporaryDirectory(prefix="vla-bench-prestart-"))
        atexit.register(_stop_all)
    render_threads = str(max(1, os.cpu_count() or 1) if count <= 1 else 1)  # as worker_pool.render_threads
    for index in range(count):
        parent, child = socket.socketpair()
        log = Path(_LOG_DIR[0].name) / f"worker-{index}.log"
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("LP_NUM_THREADS", render_threads)
        command = [sys.executable, "-m", "vla_bench.harness.env_worker", "--fd", str(child.fileno()),
                   "--preload-protocol", protocol, *(["--preload-agent", agent] if agent else [])]
        with log.open("wb") as output:
            process = subprocess.Popen(command, pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, stdout=output,
                                       stderr=output, env=env)
        child.close()
        _WAITING.append(Prestarted(process, parent, log, count))


def take(python: str, isolated: bool, worker_env: dict[str, str], workers: int) -> Prestarted | None:
    """A prestarted worker fit for this run, or None (then the unfit ones are stopped: they will not be used)."""
    fit = python == sys.executable and not isolated and not worker_env
    while _WAITING:
        candidate = _WAITING.pop(0)
        if fit and candidate.workers == workers and candidate.process.poll() is None:
            return candidate
        _stop(candidate)
    return None


def _stop(worker: Prestarted) -> None:
    worker.sock.close()  # the worker exits when its hello never comes
    if worker.process.poll() is None:
        worker.process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.process.wait(timeout=5)


def _stop_all() -> None:
    while _WAITING:
        _stop(_WAITING.pop())
    for folder in _LOG_DIR:
        folder.cleanup()
