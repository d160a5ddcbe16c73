"""Remote policies: ``--agent ws://HOST:PORT[/PATH][?OPTIONS]`` speaks openpi's websocket wire format.

The wire format (openpi-client 0.1.2): on connect the server sends one binary msgpack map, its metadata;
after that each request is a binary msgpack map of observations and each reply a binary msgpack map with
``"actions"`` (one action ``[A]`` or a chunk ``[T, A]``); a server-side error is a *text* frame holding the
traceback, after which the server closes the connection. Arrays travel as in :mod:`vla_bench.spec.wire`
(never pickle). An optional ``Authorization: Api-Key KEY`` header is sent when ``VLA_BENCH_POLICY_API_KEY``
is set (not in the URL: the ``--agent`` string is written into the results bundle).

vla-bench servers (``vla-bench serve-policy``) announce ``"vla_bench": {...}`` in their metadata and then
also understand control messages, maps with the key ``"__vla_bench__"``: ``episode_start`` (with the
episode's ``TaskSpec`` and a per-connection ``seq``; the server resets its policy) and ``episode_end``; each
is answered by ``{"ok": true, "seq": n}``. Clients that do not send them (openpi's own) are served as usual.

Options (the URL's query string; all optional):

``keys=PRESET``
    how observations are named on the wire: ``vla-bench`` (default: the standard observation as is),
    ``openpi-libero`` (``observation/image``, ``observation/wrist_image``, ``observation/state``, ``prompt``:
    an openpi LIBERO server runs unchanged; executes the first 5 actions of each chunk, as openpi's LIBERO
    example does) or ``lerobot`` (``observation.state``, ``observation.images.<camera>``, ``task``).
``map=SRC:DST,...``
    an explicit mapping instead of a preset. SRC is ``state``, ``instruction``, ``images.<camera>``,
    ``images.<i>`` (the i-th camera of the observation) or ``images.*`` (every camera, DST containing ``*``).
``replan=N``
    execute only the first N actions of each returned chunk before asking again (0: the whole chunk).
``timeout=S`` / ``connect_timeout=S``
    seconds to wait for a reply (default 30) / for the server to accept a connection (default 30).
``max_message_mb=M``
    the largest reply frame accepted (default 16 MB); a server sending more loses its connection and that
    episode fails with a clear error, so a hostile server cannot make the evaluation allocate without limit.

Faults: a lost connection, a reply that does not come within ``timeout`` or over ``max_message_mb``, and a
server traceback each raise :class:`RemotePolicyError`, which ends that episode (``policy_error`` with the
reason); the connection is dropped and the next call reconnects.

Which connections: when the server says its policy is batched (stateless), or is not a vla-bench server (an
openpi server runs one policy for every connection), the harness gets one shared policy object with
``act_batch``: the observations of a batch go out at once, each on its own connection, so the server can
batch them. Otherwise each episode slot gets its own connection, hence its own policy instance on the server.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from vla_bench.agents.gateway import (
    API_KEY_ENV,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_REPLY_MB,
    DEFAULT_TIMEOUT,
    ConnectionSlot,
    RemotePolicyError,
    as_int,
    dial,
    hello,
    json_safe,
    megabytes,
    reply_actions,
    size_error,
    too_big,
)
from vla_bench.agents.gateway import describe as _describe
from vla_bench.agents.gateway import last_line as _last_line
from vla_bench.agents.keymaps import PRESETS, KeyMap, key_map, parse_key_map
from vla_bench.agents.policy import Action, LoadedAgent
from vla_bench.spec import Observation, TaskSpec
from vla_bench.spec.errors import UserError
from vla_bench.spec.wire import WireError, packb, unpackb

__all__ = ["API_KEY_ENV", "CONTROL_KEY", "PRESETS", "PROTOCOL_VERSION", "KeyMap", "RemotePolicy", "RemotePolicyError",
           "SharedRemotePolicy", "key_map", "load_remote", "parse_key_map", "parse_remote_spec"]

PROTOCOL_VERSION = 1
CONTROL_KEY = "__vla_bench__"
N = TypeVar("N", int, float)


# ---------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class RemoteSettings:
    url: str  # without our query options
    keys: KeyMap
    replan: int
    timeout: float
    connect_timeout: float
    api_key: str | None = None
    max_message: int = int(DEFAULT_MAX_REPLY_MB * (1 << 20))  # bytes of one reply frame

    @property
    def headers(self) -> dict[str, str] | None:
        return {"Authorization": f"Api-Key {self.api_key}"} if self.api_key else None


_OPTIONS = ("keys", "map", "replan", "timeout", "connect_timeout", "max_message_mb")


def parse_remote_spec(spec: str) -> RemoteSettings:
    parts = urlsplit(spec)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise UserError(f"remote agent {spec!r} must look like ws://HOST:PORT (optionally ?keys=PRESET)")
    try:
        _ = parts.port
    except ValueError:
        raise UserError(f"remote agent {spec!r} has an invalid port") from None
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if name not in _OPTIONS:
            from vla_bench.spec.errors import unknown_name_error  # noqa: PLC0415

            raise unknown_name_error(f"option of remote agent {spec!r}:", name, _OPTIONS)
        options[name] = value
    if "keys" in options and "map" in options:
        raise UserError(f"remote agent {spec!r}: give keys=PRESET or map=..., not both")
    keys = parse_key_map(options["map"]) if "map" in options else key_map(options.get("keys", "vla-bench"))
    replan = _number(spec, options, "replan", keys.replan, int)
    timeout = _number(spec, options, "timeout", DEFAULT_TIMEOUT, float)
    connect_timeout = _number(spec, options, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, float)
    if replan < 0 or timeout <= 0 or connect_timeout <= 0:
        raise UserError(f"remote agent {spec!r}: replan must be >= 0 and the timeouts > 0")
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return RemoteSettings(url=url, keys=keys, replan=replan, timeout=timeout, connect_timeout=connect_timeout,
                          api_key=os.environ.get(API_KEY_ENV) or None,
                          max_message=megabytes(spec, options, "max_message_mb", DEFAULT_MAX_REPLY_MB))


def _number(spec: str, options: dict[str, str], name: str, default: N, kind: Callable[[str], N]) -> N:
    if name not in options:
        return default
    try:
        value = kind(options[name])
    except ValueError:
        raise UserError(f"remote agent {spec!r}: {name}={options[name]!r} is not a number") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"remote agent {spec!r}: {name} must be finite")
    return value


# --------------------------------------------------------------------------------------------- transport
class _Link:
    """One websocket connection: the metadata frame on open, then strict request/response."""

    def __init__(self, settings: RemoteSettings) -> None:
        self.settings = settings
        self._stack = contextlib.ExitStack()
        self._ws = dial(settings.url, connect_timeout=settings.connect_timeout, max_size=settings.max_message,
                        headers=settings.headers, stack=self._stack)
        first = self._recv(settings.timeout,
                           lambda exc: f"policy server {settings.url} sent no metadata frame: {_describe(exc)}")
        metadata = self._unpack(first, f"policy server {settings.url} refused the connection",
                                f"policy server {settings.url} sent unreadable metadata")
        self.metadata: dict[str, object] = metadata if isinstance(metadata, dict) else {}
        info = self.metadata.get("vla_bench")
        self.info: dict[str, object] | None = info if isinstance(info, dict) else None
        if self.info and as_int(self.info.get("protocol_version", 1)) > PROTOCOL_VERSION:
            self.close()
            raise RemotePolicyError(f"policy server {settings.url} speaks vla-bench policy protocol "
                                    f"{self.info.get('protocol_version')}; this client knows {PROTOCOL_VERSION}: "
                                    "upgrade vla-bench")
        self.broken = False

    @property
    def episode_messages(self) -> bool:
        return bool(self.info and self.info.get("episode_messages"))

    def send(self, message: Mapping[str, object]) -> None:
        try:
            payload = packb(message)
        except WireError as exc:
            raise RemotePolicyError(f"cannot encode the observation for {self.settings.url}: {exc}") from None
        try:
            self._ws.send(payload)
        except Exception as exc:  # noqa: BLE001 - connection closed or reset
            self.close()
            raise RemotePolicyError(f"lost the connection to policy server {self.settings.url}: "
                                    f"{_describe(exc)}; reconnecting") from None

    def _recv(self, timeout: float, failure: Callable[[Exception], str]) -> str | bytes:
        """The next frame; on any failure the link closes and raises ``failure(exc)`` (or the size error)."""
        try:
            return self._ws.recv(timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - timeouts, ConnectionClosed and friends
            self.close()
            if too_big(exc):
                raise size_error(self.settings.url, self.settings.max_message) from None
            raise RemotePolicyError(failure(exc)) from None

    def _unpack(self, frame: str | bytes, text_failure: str, unreadable: str) -> object:
        """A binary frame's message. A text frame (openpi's servers send their error as text: its last line
        is kept) or an undecodable one closes the link and raises, the message starting with the given words."""
        if isinstance(frame, str):
            self.close()
            raise RemotePolicyError(f"{text_failure}: {_last_line(frame)}")
        try:
            return unpackb(frame)
        except WireError as exc:
            self.close()
            raise RemotePolicyError(f"{unreadable}: {exc}") from None

    def receive(self, deadline: float) -> dict[str, object]:
        def failure(exc: Exception) -> str:
            url = self.settings.url
            if isinstance(exc, TimeoutError):
                return f"policy server {url} did not answer within {self.settings.timeout:g} s; reconnecting"
            return f"lost the connection to policy server {url}: {_describe(exc)}; reconnecting"

        reply = self._recv(max(deadline - time.monotonic(), 0.0), failure)
        message = self._unpack(reply, f"policy server {self.settings.url} failed",
                               f"unreadable reply from policy server {self.settings.url}")
        if not isinstance(message, dict):
            self.close()
            raise RemotePolicyError(f"policy server {self.settings.url} replied with a "
                                    f"{type(message).__name__}, not a map")
        return message

    def request(self, message: Mapping[str, object]) -> dict[str, object]:
        self.send(message)
        return self.receive(time.monotonic() + self.settings.timeout)

    def control(self, op: str, seq: int, task: TaskSpec) -> None:
        reply = self.request({CONTROL_KEY: op, "seq": seq, "task": task.to_json()})
        if not reply.get("ok") or reply.get("seq") != seq:
            self.close()
            raise RemotePolicyError(f"policy server {self.settings.url} answered {op} #{seq} with {reply!r}")

    def close(self) -> None:
        self.broken = True
        with contextlib.suppress(Exception):
            self._stack.close()


# ----------------------------------------------------------------------------------------------- policies
def _reply_actions(settings: RemoteSettings, reply: Mapping[str, object]) -> Action:
    return reply_actions(f"policy server {settings.url}", reply, settings.replan)


class RemotePolicy(ConnectionSlot["_Link"]):
    """One connection per episode slot: the server keeps one policy instance per connection (stateful)."""

    def __init__(self, settings: RemoteSettings) -> None:
        super().__init__()
        self.settings = settings
        self._task: TaskSpec | None = None
        self._seq = 0

    def _connected(self) -> _Link:
        if self._link is None or self._link.broken:
            self._link = _Link(self.settings)
            if self._task is not None and self._link.episode_messages:  # a fresh server-side policy
                self._seq += 1
                self._link.control("episode_start", self._seq, self._task)
        return self._link

    def reset(self, task: TaskSpec) -> None:
        with self._lock:
            fresh = self._link is None or self._link.broken
            self._task = task
            link = self._connected()
            if not fresh and link.episode_messages:  # _connected() already announced it on a new link
                self._seq += 1
                link.control("episode_start", self._seq, task)

    def act(self, observation: Observation) -> Action:
        with self._lock:
            link = self._connected()
            return _reply_actions(self.settings, link.request(self.settings.keys.to_wire(observation)))



class SharedRemotePolicy:
    """A stateless remote policy: one object for every episode, the observations of a batch in flight at once."""

    def __init__(self, settings: RemoteSettings) -> None:
        self.settings = settings
        self._links: list[_Link | None] = []
        self._seq = 0
        self._lock = threading.Lock()

    def _link(self, index: int) -> _Link:
        while len(self._links) <= index:
            self._links.append(None)
        link = self._links[index]
        if link is None or link.broken:
            link = self._links[index] = _Link(self.settings)
        return link

    def reset(self, task: TaskSpec) -> None:
        with self._lock:
            link = self._link(0)
            if link.episode_messages:  # the server's shared policy sees every episode start, as in-process
                self._seq += 1
                link.control("episode_start", self._seq, task)

    def act(self, observation: Observation) -> Action:
        return self.act_batch([observation])[0]

    def act_batch(self, observations: Sequence[Observation]) -> list[Action]:
        with self._lock:
            messages = [self.settings.keys.to_wire(o) for o in observations]
            links = [self._link(i) for i in range(len(messages))]
            for sent, (link, message) in enumerate(zip(links, messages, strict=True)):
                try:
                    link.send(message)
                except RemotePolicyError:
                    for other in links[:sent]:  # their replies would arrive out of turn: drop them
                        other.close()
                    raise
            deadline = time.monotonic() + self.settings.timeout
            results: list[Action] = []
            failure: RemotePolicyError | None = None
            for link in links:  # collect every reply (or drop its connection): nothing stays in flight
                try:
                    reply = link.receive(deadline) if failure is None else None
                    if reply is not None:
                        results.append(_reply_actions(self.settings, reply))
                except RemotePolicyError as exc:
                    failure = exc
                if failure is not None:
                    link.close()
            if failure is not None:
                raise failure
            return results

    def close(self) -> None:
        with self._lock:
            for link in self._links:
                if link is not None:
                    link.close()
            self._links = []

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            for link in self._links:
                if link is not None:
                    link.close()


# ------------------------------------------------------------------------------------------------- loader
def load_remote(spec: str) -> LoadedAgent:
    settings = parse_remote_spec(spec)
    metadata = hello(lambda: _Link(settings),
                     "Is the policy server running (e.g. `vla-bench serve-policy AGENT --port PORT`)?").metadata
    given = metadata.get("vla_bench")
    info = given if isinstance(given, dict) else None
    agent = info.get("agent") if info else None
    served = agent if isinstance(agent, dict) else {}
    shared = bool(info.get("batched")) if info else True  # an openpi server runs one policy for all connections
    details: dict[str, object] = {"url": settings.url, "keys": settings.keys.name, "replan": settings.replan,
                                  "server": "vla-bench" if info else "openpi-compatible"}
    if served:
        details["served_agent"] = json_safe(served)
    elif metadata:
        details["server_metadata"] = json_safe(metadata)
    sha = served.get("sha256") if isinstance(served.get("sha256"), str) else None

    def factory() -> RemotePolicy | SharedRemotePolicy:
        return SharedRemotePolicy(settings) if shared else RemotePolicy(settings)

    name = str(served.get("name") or spec)
    return LoadedAgent(spec=spec, kind="remote", factory=factory, name=name, sha256=sha, details=details)
