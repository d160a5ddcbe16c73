"""The Ray executor (``--executor ray [--address ADDR]``): the local executor with its env workers on Ray.

Everything that decides an episode's record is the local executor's own code, run unchanged: this process
plans, batches the policy calls over live episodes, clips, executes chunks, applies the timeouts and
isolates faults (:class:`~vla_bench.harness.local_executor.LocalExecutor`). Only where an env worker
process lives differs. Each worker index gets a Ray actor (:class:`EnvWorkerHost`, one CPU) that starts the
ordinary env worker (``python -m vla_bench.harness.env_worker``) on its node, handing it a TCP connection
back to this process instead of a socket pair. The orchestrator then speaks the same msgpack frames to it;
a worker that crashes closes its connection, a hung one is killed through its actor and replaced, exactly
as locally. Hence the same plan gives the same records as ``--executor local``.

The policy runs here (or behind ``--agent ws://...``, shared by every shard); the env workers, usually the
expensive part of a VLA evaluation, spread over the cluster. The nodes must reach this machine on a TCP
port (picked at random; set ``VLA_BENCH_RAY_DRIVER_HOST`` to choose the address they dial) and have the same
vla-bench install (and benchmark runtimes) at the same paths.

Without ``--address`` a private local Ray instance is started for the run and removed afterwards (token
auth as Ray defaults; ``RAY_AUTH_MODE=disabled`` turns it off). When Ray is already initialised in this
process, that instance is used as it is.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import ray
from pydantic import JsonValue

from vla_bench.agents.policy import LoadedAgent
from vla_bench.harness.executor_config import ExecutorConfig
from vla_bench.harness.framing import recv_plain, send_plain
from vla_bench.harness.lanes import RecordSink
from vla_bench.harness.local_executor import LocalExecutor
from vla_bench.harness.worker_pool import Launched
from vla_bench.spec import EpisodeSpec, Protocol
from vla_bench.spec.errors import UserError

DRIVER_HOST_ENV = "VLA_BENCH_RAY_DRIVER_HOST"
_CALL_TIMEOUT = 30.0  # seconds for a supervision call to an actor (poll, kill, tail)


@ray.remote(max_restarts=0)
class EnvWorkerHost:
    """A Ray actor that runs env worker processes on its node, each dialled back to the orchestrator."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None
        self._logs: list[Path] = []

    def start(self, host: str, port: int, token: str, index: int, python: str,
              extra_env: dict[str, str] | None = None) -> int:
        self.kill()
        sock = socket.create_connection((host, port), timeout=60)
        try:
            sock.settimeout(None)  # the env worker expects a blocking socket
            send_plain(sock, {"token": token, "index": index})
            handle, name = tempfile.mkstemp(prefix=f"vla-bench-ray-worker-{index}-", suffix=".log")
            self._log = Path(name)
            self._logs.append(self._log)
            env = dict(os.environ)
            env.setdefault("OMP_NUM_THREADS", "1")
            env.setdefault("LP_NUM_THREADS", "1")  # the actor holds one CPU: software rendering gets that one
            env.update(extra_env or {})  # the benchmark runtime's settings (its interpreter must hold vla_bench)
            with os.fdopen(handle, "wb") as log:
                self._process = subprocess.Popen(
                    [python, "-m", "vla_bench.harness.env_worker", "--fd", str(sock.fileno())],
                    pass_fds=[sock.fileno()], stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                )
            return self._process.pid
        finally:
            sock.close()  # the child holds its own copy

    def poll(self) -> int | None:
        return self._process.poll() if self._process is not None else None

    def wait(self, timeout: float | None) -> int | None:
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def tail(self, lines: int) -> str:
        try:
            text = self._log.read_text(encoding="utf-8", errors="replace") if self._log else ""
        except OSError:
            return "(no output)"
        kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
        return " | ".join(kept) if kept else "(no output)"

    def shutdown(self) -> None:
        self.kill()
        for log in self._logs:
            with contextlib.suppress(OSError):
                log.unlink()


class _ActorProcess:
    """An env worker process on a Ray node, seen through its actor (what the local executor needs of it)."""

    def __init__(self, actor: Any, index: int) -> None:
        self.actor = actor
        self.index = index
        self.lost: str | None = None  # why the actor itself is unreachable

    def _call(self, method: str, *args: Any, timeout: float = _CALL_TIMEOUT) -> Any:
        if self.lost is not None:
            raise RuntimeError(self.lost)
        try:
            return ray.get(getattr(self.actor, method).remote(*args), timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - RayActorError, GetTimeoutError, node failures
            self.lost = f"Ray actor of env worker {self.index} is unreachable ({type(exc).__name__}: {exc})"
            raise RuntimeError(self.lost) from None

    def poll(self) -> int | None:
        try:
            result: int | None = self._call("poll")
        except RuntimeError:
            return -1  # gone with its actor: nothing left to stop
        return result

    def wait(self, timeout: float | None = None) -> int:
        try:
            code: int | None = self._call("wait", timeout, timeout=(timeout or 0) + _CALL_TIMEOUT)
        except RuntimeError:
            code = None
        if code is None:
            raise subprocess.TimeoutExpired("vla_bench.harness.env_worker", timeout or 0)
        return code

    def kill(self) -> None:
        try:
            self._call("kill")
        except RuntimeError:
            with contextlib.suppress(Exception):
                ray.kill(self.actor, no_restart=True)

    def tail(self, lines: int) -> str:
        try:
            text: str = self._call("tail", lines)
        except RuntimeError:
            return f"(no output: {self.lost})"
        return text


def _check_reachable(address: str) -> None:
    """Fail fast on a HOST:PORT nobody listens on (Ray itself retries for minutes)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or address in ("auto", "local"):
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {host}:{port} ({exc})") from None


def _single_node_here() -> bool:
    """True when every live node of the cluster is this machine (then loopback is enough)."""
    here = ray.util.get_node_ip_address()
    return all(node.get("NodeManagerAddress") == here for node in ray.nodes() if node.get("Alive"))


class RayLauncher:
    """The launcher strategy of the worker pool on Ray: each worker index gets an actor that starts the
    ordinary env worker on its node, which dials back to this process."""

    def __init__(self, config: ExecutorConfig, address: str | None) -> None:
        self.config, self.address = config, address
        self._actors: dict[int, Any] = {}
        self._handles: dict[int, _ActorProcess] = {}
        self._listener: socket.socket | None = None
        self._advertised = "127.0.0.1"
        self._token = secrets.token_hex(16)
        self._arrived: dict[int, socket.socket] = {}  # connections that dialled in for another worker index
        self._owns_ray = False
        self._ray_dir: str | None = None
        self._actor_cpus = 1.0

    def prepare(self, count: int) -> None:
        """Reach Ray, listen for the workers, and create their actors now (their processes start in parallel)."""
        self._connect()
        self._listen()
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        self._actor_cpus = 1.0 if count <= cpus else max(cpus / count, 0.01)
        for index in range(count):
            self._actor(index)

    def _connect(self) -> None:
        if ray.is_initialized():
            return
        try:
            if self.address:
                _check_reachable(self.address)
            else:
                # a short private directory: Ray's socket paths must stay under the 107-byte limit
                self._ray_dir = tempfile.mkdtemp(prefix="vlab-ray-", dir="/tmp" if Path("/tmp").is_dir() else None)
            # one of address (a cluster) and _temp_dir (a local instance) is given, the other None: Ray's default
            ray.init(address=self.address or None, _temp_dir=self._ray_dir, include_dashboard=False,
                     log_to_driver=False, logging_level=logging.WARNING)
        except Exception as exc:  # noqa: BLE001 - connection refused, version mismatch, auth ...
            self._remove_ray_dir()
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
            raise UserError(f"--executor ray: cannot start or reach {where}: {exc}") from None
        self._owns_ray = True

    def _listen(self) -> None:
        chosen = os.environ.get(DRIVER_HOST_ENV)
        if chosen:
            self._advertised, bind = chosen, chosen
        elif self._ray_dir is not None or _single_node_here():
            self._advertised, bind = "127.0.0.1", "127.0.0.1"
        else:
            self._advertised, bind = ray.util.get_node_ip_address(), ""
        self._listener = socket.create_server((bind, 0))
        self._listener.settimeout(0.2)

    def close(self) -> None:
        for actor in self._actors.values():
            with contextlib.suppress(Exception):
                ray.get(actor.shutdown.remote(), timeout=10)
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
        self._actors.clear()
        self._handles.clear()
        for sock in self._arrived.values():
            sock.close()
        self._arrived.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False
        self._remove_ray_dir()

    def _remove_ray_dir(self) -> None:
        if self._ray_dir is not None:
            shutil.rmtree(self._ray_dir, ignore_errors=True)
            self._ray_dir = None

    # --------------------------------------------------------------------------------------- workers
    def _actor(self, index: int) -> Any:
        handle = self._handles.get(index)
        if index in self._actors and (handle is None or handle.lost is None):
            return self._actors[index]
        if index in self._actors:  # lost: replace it
            with contextlib.suppress(Exception):
                ray.kill(self._actors[index], no_restart=True)
        actor = EnvWorkerHost.options(num_cpus=self._actor_cpus).remote()  # type: ignore[attr-defined]
        self._actors[index] = actor
        self._handles.pop(index, None)
        return actor

    def launch(self, index: int) -> Launched:
        if self._listener is None:
            raise RuntimeError("RayLauncher.prepare() sets up the listener before workers start")
        actor = self._actor(index)
        port = int(self._listener.getsockname()[1])
        started = actor.start.remote(self._advertised, port, self._token, index, self.config.python,
                                     self.config.worker_env)
        sock = self._accept(index, started)
        handle = _ActorProcess(actor, index)
        self._handles[index] = handle
        return Launched(handle, sock, handle.tail)  # the worker's output stays on its node: the actor reads it

    def _accept(self, index: int, started: Any) -> socket.socket:
        """The connection env worker ``index`` dials back (others that arrive meanwhile are kept for later)."""
        assert self._listener is not None
        deadline = time.monotonic() + max(self.config.env_timeout, 60.0)
        while index not in self._arrived:
            done, _ = ray.wait([started], timeout=0)
            if done:
                try:
                    ray.get(started)
                except Exception as exc:  # noqa: BLE001 - the actor could not start the worker
                    raise UserError(f"--executor ray: env worker {index} could not start on its Ray node: "
                                    f"{exc}") from None
            if time.monotonic() > deadline:
                raise UserError(f"--executor ray: env worker {index} did not connect back to "
                                f"{self._advertised}:{self._listener.getsockname()[1]} within "
                                f"{max(self.config.env_timeout, 60.0):g} s (is the port reachable from the "
                                f"cluster? set {DRIVER_HOST_ENV})")
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(10)
            try:
                hello = recv_plain(conn)
                if not isinstance(hello, dict):
                    raise TypeError("not a greeting")
                token = str(hello.get("token", ""))
                if not hmac.compare_digest(token.encode(), self._token.encode()):
                    raise ConnectionError("wrong token")
                arrived = int(hello["index"])
            except (OSError, ConnectionError, ValueError, KeyError, TypeError):
                conn.close()  # not one of ours
                continue
            conn.settimeout(None)
            stale = self._arrived.pop(arrived, None)
            if stale is not None:
                stale.close()
            self._arrived[arrived] = conn
        return self._arrived.pop(index)


class RayExecutor:
    """The local executor's loop with the Ray launcher: the same code decides every record."""

    def __init__(self, protocol: Protocol, agent: LoadedAgent, config: ExecutorConfig, *,
                 address: str | None = None) -> None:
        self.launcher = RayLauncher(config, address)
        self._executor = LocalExecutor(protocol, agent, config, launcher=self.launcher, remote_workers=True)
        self.config = config

    @property
    def simulator(self) -> dict[str, JsonValue]:
        return self._executor.simulator

    @property
    def placement(self) -> str:
        return self._executor.placement

    @property
    def first_step_at(self) -> float | None:
        return self._executor.first_step_at

    def run(self, plan: Iterable[EpisodeSpec], sink: RecordSink,
            on_started: Callable[[], None] | None = None) -> None:
        specs = list(plan)
        if not specs:
            return
        try:
            self.launcher.prepare(max(1, min(self.config.workers, len(specs))))
            self._executor.run(specs, sink, on_started)
        finally:
            self.launcher.close()  # idempotent: the executor's close() may have run it already
