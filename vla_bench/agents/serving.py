"""``vla-bench serve-policy AGENT --port P``: any vla-bench agent behind openpi's websocket wire format.

Any openpi client (``openpi_client.WebsocketClientPolicy``) and ``--agent ws://HOST:PORT`` can query it. The
protocol is described in :mod:`vla_bench.agents.remote`; in short: metadata frame on connect, then one
msgpack map of observations in, ``{"actions": float32 array, "server_timing": {...}}`` out; on an error the
traceback as a text frame, then the connection is closed (code 1011). ``GET /healthz`` answers 200.

Inference never runs on the event loop:

* a **batched** agent (one with ``act_batch``; stateless across episodes) has one instance and one inference
  thread. Requests from all connections go into one queue; the thread takes everything waiting (up to
  ``max_batch`` observations, optionally lingering ``batch_wait`` seconds for more) and answers it with a
  single ``act_batch`` call. While a batch computes, the next one gathers, so batches grow with load without
  any added latency when idle.
* any other agent gets one policy instance and one thread per connection (a policy may keep per-episode
  state; a hung call blocks only its own connection). An agent that is one shared object is called from one
  thread for every connection.

Control messages (``{"__vla_bench__": "episode_start", "seq": n, "task": {...}}``, ``episode_end``, ``stats``)
are optional: a connection that never sends ``episode_start`` gets its policy reset with ``default_task``
(``--task-spec``) before its first observation, or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from importlib import metadata as importlib_metadata
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from numpy.typing import NDArray

from vla_bench.agents.gateway import MAX_QUEUED_FRAMES
from vla_bench.agents.policy import LoadedAgent, Policy, is_batched
from vla_bench.agents.remote import CONTROL_KEY, PRESETS, PROTOCOL_VERSION, KeyMap
from vla_bench.agents.serve_engine import BatchEngine, Runner, ServerStats
from vla_bench.agents.serve_wire import MAX_MESSAGE, ProtocolViolation, task_spec_from_json
from vla_bench.spec import Observation, TaskSpec
from vla_bench.spec.errors import UserError
from vla_bench.spec.wire import packb, unpackb

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection
    from websockets.http11 import Request, Response

__all__ = ["PolicyServer", "Session"]

T = TypeVar("T")


# ----------------------------------------------------------------------------------------------- sessions
@dataclass
class Session:
    """One connection's view of the policy."""

    server: PolicyServer
    runner: Runner | None = None
    policy: Policy | None = None
    reset_done: bool = False
    episodes: int = 0
    owns_runner: bool = False
    busy: bool = False

    async def reset(self, task: TaskSpec) -> None:
        self.reset_done = True
        engine = self.server.engine
        if engine is not None:
            await engine.reset(task)
            return
        await self.call(lambda: self._policy().reset(task))

    async def act(self, observation: Observation) -> tuple[NDArray[np.float32], float, int]:
        engine = self.server.engine
        if engine is not None:
            return await engine.act(observation)
        stats = self.server.stats

        def call() -> tuple[NDArray[np.float32], float, int]:
            policy = self._policy()
            started = time.perf_counter()
            action = np.asarray(policy.act(observation), dtype=np.float32)
            elapsed = time.perf_counter() - started
            stats.batches += 1
            stats.requests += 1
            stats.max_batch = max(stats.max_batch, 1)
            stats.infer_seconds += elapsed
            return action, elapsed, 1

        return await self.call(call)

    def _runner(self) -> Runner:
        if self.runner is None:
            if self.server.shared_runner is not None:
                self.runner = self.server.shared_runner
            else:
                self.runner, self.owns_runner = Runner("vla-bench-serve-session"), True
        return self.runner

    def _policy(self) -> Policy:  # runs on the session's thread
        if self.server.shared_policy is not None:
            return self.server.shared_policy
        if self.policy is None:
            try:
                self.policy = self.server.spares.pop()
            except IndexError:
                self.policy = self.server.agent.factory()
        return self.policy

    async def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` on this connection's thread; ``busy`` while it runs (a hung call keeps it)."""
        self.busy = True
        result = await self._runner().submit(function)
        self.busy = False
        return result

    def close(self) -> None:
        if self.owns_runner and self.runner is not None:
            self.runner.close()
        if self.policy is not None and not self.busy:  # not stuck in a call: the next connection may use it
            self.server.spares.append(self.policy)
            self.policy = None



# ------------------------------------------------------------------------------------------------- server
class PolicyServer:
    """Serves one :class:`LoadedAgent` over websockets. ``start()`` runs it on a background thread."""

    def __init__(self, agent: LoadedAgent, *, host: str = "127.0.0.1", port: int = 8000,
                 keys: KeyMap | None = None, default_task: TaskSpec | None = None, max_batch: int = 64,
                 batch_wait: float = 0.0, api_key: str | None = None, max_message: int = MAX_MESSAGE) -> None:
        self.agent = agent
        self.max_message = max_message  # bytes of one request frame; a larger one closes that connection (1009)
        self.host, self.port = host, port
        self.keys = keys or PRESETS["vla-bench"]
        self.default_task = default_task
        self.api_key = api_key
        self.stats = ServerStats()
        first = agent.factory()
        self.batched = is_batched(first)
        self.shared_policy: Policy | None = first if (self.batched or agent.shared) else None
        self.engine = BatchEngine(first, max_batch, batch_wait, self.stats) if is_batched(first) else None
        self.shared_runner = Runner("vla-bench-serve-shared") if agent.shared and not self.batched else None
        # policies ready for a new connection: the probe above, then those of connections that ended (as the
        # local executor reuses a slot's policy for the slot's next episode)
        self.spares: list[Policy] = [] if self.shared_policy is not None else [first]
        self.max_batch = max_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def metadata(self) -> dict[str, object]:
        try:
            version = importlib_metadata.version("vla-bench")
        except importlib_metadata.PackageNotFoundError:
            version = "unknown"
        return {
            "server": "vla-bench",
            "vla_bench": {
                "protocol_version": PROTOCOL_VERSION,
                "harness_version": version,
                "agent": self.agent.identity(),
                "batched": self.batched,
                "max_batch": self.max_batch if self.batched else 1,
                "episode_messages": True,
                "keys": self.keys.name,
                "default_task": self.default_task.to_json() if self.default_task else None,
            },
        }

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    # ---------------------------------------------------------------------------------------- running
    async def serve(self, ready: Callable[[], None] | None = None) -> None:
        """Serve until :meth:`stop` (or cancellation)."""
        from websockets.asyncio.server import serve  # noqa: PLC0415 - only when serving

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self._handle, self.host, self.port, process_request=self._process_request,
                         compression=None, max_size=self.max_message, max_queue=MAX_QUEUED_FRAMES,
                         server_header=None) as server:
            self.port = int(next(iter(server.sockets)).getsockname()[1])
            if ready is not None:
                ready()
            await self._stop.wait()
        self._close_threads()

    def start(self, timeout: float = 30.0) -> PolicyServer:
        """Serve on a background thread; returns once listening (``port=0`` picks a free port)."""
        ready = threading.Event()

        def main() -> None:
            try:
                asyncio.run(self.serve(ready.set))
            except BaseException as exc:  # noqa: BLE001 - handed to start()'s caller
                self._error = exc
                ready.set()

        self._thread = threading.Thread(target=main, name="vla-bench-policy-server", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or self._error is not None:
            raise UserError(f"policy server did not start on {self.host}:{self.port}: {self._error}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> PolicyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _close_threads(self) -> None:
        if self.engine is not None:
            self.engine.close()
        if self.shared_runner is not None:
            self.shared_runner.close()

    # ---------------------------------------------------------------------------------------- protocol
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?", 1)[0] == "/healthz":
            return connection.respond(HTTPStatus.OK, "OK\n")
        if self.api_key:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Api-Key {self.api_key}".encode()):
                return connection.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong 'Authorization: Api-Key' header\n")
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        from websockets.exceptions import ConnectionClosed  # noqa: PLC0415

        session = Session(server=self)
        self.stats.connections += 1
        self.stats.open_connections += 1
        try:
            await connection.send(packb(self.metadata))
            async for data in connection:
                if isinstance(data, str):
                    raise ProtocolViolation("text frames are not requests: send binary msgpack maps")
                message = unpackb(data)
                if not isinstance(message, dict):
                    raise ProtocolViolation(f"a request must be a msgpack map, not {type(message).__name__}")
                await connection.send(packb(await self._answer(session, message)))
        except ConnectionClosed:
            pass
        except Exception:  # noqa: BLE001 - openpi: the traceback as a text frame, then close
            with contextlib.suppress(ConnectionClosed):
                await connection.send(traceback.format_exc())
                await connection.close(code=1011, reason="internal error")
        finally:
            self.stats.open_connections -= 1
            session.close()

    async def _answer(self, session: Session, message: dict[str, object]) -> dict[str, object]:
        op = message.get(CONTROL_KEY)
        if op is not None:
            seq = message.get("seq")
            if op == "episode_start":
                await session.reset(task_spec_from_json(message.get("task")))
                session.episodes += 1
                self.stats.episodes += 1
            elif op == "stats":
                return {"ok": True, "seq": seq, "stats": self.stats.as_dict()}
            elif op != "episode_end":
                raise ProtocolViolation(f"unknown control message {op!r}: expected episode_start, episode_end "
                                        "or stats")
            return {"ok": True, "seq": seq}
        observation = self.keys.from_wire(message)
        if not session.reset_done and self.default_task is not None:
            await session.reset(self.default_task)
        session.reset_done = True
        actions, seconds, batch = await session.act(observation)
        return {"actions": actions, "server_timing": {"infer_ms": seconds * 1e3, "batch_size": batch}}
