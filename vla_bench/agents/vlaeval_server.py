"""``vla-bench serve-policy AGENT --wire vla-eval``: any vla-bench agent behind vla-eval's model-server protocol.

vla-eval's own client (``vla_eval.connection.Connection``, its benchmark runners) drives it unchanged: ``hello``
is answered with ``hello`` (``protocol_version``, ``harness_version``, ``model_server``); ``episode_start``
resets the connection's policy with the episode's task; every ``observation`` is answered by one ``action``
(``{"actions": float32 [A] or [T, A]}``) or, when the policy fails, one ``error``
(``{"error": "observation_failed: Type: message"}``), both echoing its ``seq``; the connection stays open, as
vla-eval's servers keep it. ``GET /health`` answers ``200 {"status": "ok"}`` (vla-eval's readiness probe).

The task of an episode: the ``task_spec`` map when the client is vla-bench (``--agent vlaeval://``); else the
``--task-spec`` given to ``serve-policy``, with the episode's ``task_description`` as its instruction (vla-eval
benchmarks send their task as name, suite and description, not action bounds). Observations are mapped back
with the key preset (default ``vla-eval``: ``images/<camera>``, ``state``, ``task_description``). Frames over
``max_message`` bytes close the connection (code 1009), and images arrive bounded in pixels.

Inference runs off the event loop exactly as for the openpi wire (:class:`~vla_bench.agents.serving.PolicyServer`,
whose sessions, batching engine and per-connection threads this server reuses).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from http import HTTPStatus
from importlib import metadata as importlib_metadata
from typing import TYPE_CHECKING, Any

from vla_bench.agents.keymaps import VLAEVAL_PRESETS
from vla_bench.agents.serve_wire import ProtocolViolation, task_spec_from_json
from vla_bench.agents.serving import PolicyServer, Session
from vla_bench.agents.vlaeval_wire import PROTOCOL_VERSION, VlaEvalWireError, pack, unpack
from vla_bench.spec import TaskSpec

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection
    from websockets.http11 import Request, Response


def _version() -> str:
    try:
        return importlib_metadata.version("vla-bench")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def _failure(prefix: str, exc: BaseException) -> dict[str, str]:
    return {"error": f"{prefix}: {type(exc).__name__}: {exc}"}


class VlaEvalPolicyServer(PolicyServer):
    """A :class:`PolicyServer` speaking vla-eval's protocol instead of openpi's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("keys", VLAEVAL_PRESETS["vla-eval"])
        super().__init__(*args, **kwargs)

    def hello(self) -> dict[str, object]:
        return {"protocol_version": PROTOCOL_VERSION, "harness_version": _version(), "model_server": "vla-bench",
                "capabilities": {}, "agent": self.agent.identity(), "keys": self.keys.name,
                "batched": self.batched}

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?", 1)[0] == "/health":
            response = connection.respond(HTTPStatus.OK, json.dumps({"status": "ok"}) + "\n")
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        return super()._process_request(connection, request)

    def episode_task(self, payload: Mapping[str, object]) -> TaskSpec | None:
        """The task to reset the policy with, from an ``episode_start`` payload (None: leave it as it is)."""
        if "task_spec" in payload:
            return task_spec_from_json(payload["task_spec"])
        if self.default_task is None:
            return None
        given = payload.get("task")
        task: dict[str, object] = given if isinstance(given, dict) else {}
        description = task.get("task_description") or task.get("instruction")
        if isinstance(description, str) and description:
            return dataclasses.replace(self.default_task, instruction=description)
        return self.default_task

    async def _handle(self, connection: ServerConnection) -> None:
        from websockets.exceptions import ConnectionClosed  # noqa: PLC0415

        session = Session(server=self)
        self.stats.connections += 1
        self.stats.open_connections += 1
        try:
            async for frame in connection:
                reply = await self._answer_frame(session, frame)
                if reply is not None:
                    await connection.send(reply)
        except ConnectionClosed:
            pass
        finally:
            self.stats.open_connections -= 1
            session.close()

    async def _answer_frame(self, session: Session, frame: bytes | str) -> bytes | None:
        try:
            kind, payload, seq = unpack(frame)
        except VlaEvalWireError as exc:
            return pack("error", _failure("bad_message", exc), 0)
        if kind == "hello":
            if payload.get("protocol_version", PROTOCOL_VERSION) != PROTOCOL_VERSION:
                return pack("error", {"error": f"protocol version {payload.get('protocol_version')!r} is not "
                                               f"supported; this server speaks {PROTOCOL_VERSION}"}, seq)
            return pack("hello", self.hello(), seq)
        if kind == "episode_start":
            try:
                task = self.episode_task(payload)
                if task is not None:
                    await session.reset(task)
                session.episodes += 1
                self.stats.episodes += 1
            except Exception as exc:  # noqa: BLE001 - reported to the client, as vla-eval's server does
                return pack("error", _failure("episode_start_failed", exc), seq)
            return None
        if kind == "observation":
            try:
                observation = self.keys.from_wire(payload)
                if not session.reset_done and self.default_task is not None:
                    await session.reset(self.default_task)
                session.reset_done = True
                actions, _, _ = await session.act(observation)
            except Exception as exc:  # noqa: BLE001 - one failed observation, the connection goes on
                return pack("error", _failure("observation_failed", exc), seq)
            return pack("action", {"actions": actions}, seq)
        if kind in ("episode_end", "error"):
            return None
        return pack("error", _failure("bad_message", ProtocolViolation(f"a client does not send {kind!r}")), seq)

