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
_STARTED_FOR: list[tuple[int, str, str | None]] = []  # what prestart() was called with: it starts workers once


def usable_cpus() -> int:
    """The cores this process may run on (its affinity mask, e.g. under ``taskset`` or a container's cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def render_threads(workers: int) -> int:
    """Software-render threads per env worker (Mesa llvmpipe's ``LP_NUM_THREADS``), unless the user set it.
    llvmpipe starts a thread per core in every process, so several workers fight over the cores (2 workers
    on 2 cores measured 1.26x one worker with a thread per core each, 2.09x with one each): the usable cores
    are shared out instead, all of them to a lone worker."""
    return max(1, usable_cpus() // max(1, workers))


def worker_agent(agent: str, placement: str) -> str | None:
    """The ``--agent`` a prestarted worker may load ahead of the hello: one it can rebuild from the string
    alone (a baseline or a model file) when the policy may be placed in the workers; else None."""
    rebuildable = agent.startswith("baseline:") or agent.lower().endswith((".onnx", ".pt", ".pth"))
    return agent if rebuildable and placement != "central" else None


def prestart_from_argv(argv: list[str]) -> None:
    """``vla-bench eval ...``'s workers, started from its raw arguments before the CLI's own imports (typer,
    pydantic, the harness: ~0.5 s), so that the simulator imports meanwhile. Anything this simple reading
    does not understand starts nothing: ``eval_command`` then prestarts them as usual."""
    if not argv or argv[0] != "eval" or any(a in ("--help", "-h") for a in argv):
        return
    values: dict[str, str] = {}
    rest = iter(argv[1:])
    for arg in rest:
        name, equals, value = arg.partition("=")
        if name in ("--agent", "--protocol", "--workers", "--executor", "--policy-placement"):
            values[name] = value if equals else next(rest, "")
    workers = values.get("--workers", "1")
    if values.get("--executor", "local") != "local" or not workers.isdigit() or int(workers) < 1:
        return
    if "--agent" in values and values.get("--protocol"):
        prestart(int(workers), values["--protocol"],
                 worker_agent(values["--agent"], values.get("--policy-placement", "auto")))


def prestart(count: int, protocol: str, agent: str | None) -> None:
    """Start ``count`` env workers preloading ``protocol``'s benchmark (and ``agent``, when given); a second
    call with the same arguments (the CLI's, after :func:`prestart_from_argv`) starts nothing more."""
    if (count, protocol, agent) in _STARTED_FOR and _WAITING:
        return
    _STARTED_FOR[:] = [(count, protocol, agent)]
    _stop_waiting()  # started for other arguments
    if not _LOG_DIR:
        _LOG_DIR.append(tempfile.TemporaryDirectory(prefix="vla-bench-prestart-"))
        atexit.register(_stop_all)
    threads = str(render_threads(count))
    for index in range(count):
        parent, child = socket.socketpair()
        log = Path(_LOG_DIR[0].name) / f"worker-{index}.log"
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("LP_NUM_THREADS", threads)
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


def _stop_waiting() -> None:
    while _WAITING:
        _stop(_WAITING.pop())


def _stop_all() -> None:
    _stop_waiting()
    for folder in _LOG_DIR:
        folder.cleanup()
