"""vla-eval model servers as agents: ``--agent vlaeval://HOST:PORT[/PATH][?OPTIONS]``.

Speaks vla-eval's protocol (:mod:`vla_bench.agents.vlaeval_wire`): on connect the client sends ``hello``
(``protocol_version``, ``harness_version``) and the server answers ``hello`` with its own version, its class
name and, optionally, its action/observation specs; a server speaking another protocol version is refused.
Each episode slot holds one connection (a vla-eval server keeps per-connection state: action-chunk buffers,
its model's history). Every episode is framed by ``episode_start`` (``{"task": {...}, "task_spec": {...}}``:
the task's name and instruction as vla-eval benchmarks send them, plus our full ``TaskSpec``) and
``episode_end``; each observation gets one ``action`` (``{"actions": [A] or [T, A]}``) or one ``error`` with
the same ``seq``. The server sends nothing for ``episode_start`` unless it fails.

Options (the query string): ``keys=PRESET`` (``vla-eval``: ``images/<camera>``, ``state``,
``task_description``; ``vla-eval-libero``: ``images/agentview``, ``images/wrist``, ``states``,
``task_description``, as vla-eval's LIBERO benchmark sends them; ``vla-eval-libero-noproprio``),
``map=SRC:DST,...`` (``/`` in DST nests maps), ``replan=N``, ``timeout=S``, ``connect_timeout=S``,
``max_message_mb=M`` (default 16) and ``benchmark=NAME`` (sent in ``hello``).

Faults: an ``error`` reply ends that episode with the server's message (the connection stays: vla-eval's
server keeps it open); a timeout, a lost connection, an oversized or malformed frame, or a reply out of turn
drops the connection, ends the episode, and the next call reconnects (``hello`` and ``episode_start`` again).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from vla_bench.agents.gateway import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_REPLY_MB,
    DEFAULT_TIMEOUT,
    ConnectionSlot,
    RemotePolicyError,
    describe,
    dial,
    hello,
    json_safe,
    megabytes,
    reply_actions,
    size_error,
    too_big,
)
from vla_bench.agents.keymaps import VLAEVAL_PRESETS, KeyMap, key_map, parse_key_map
from vla_bench.agents.policy import Action, LoadedAgent
from vla_bench.agents.vlaeval_wire import PROTOCOL_VERSION, VlaEvalWireError, pack, unpack
from vla_bench.spec import Observation, TaskSpec
from vla_bench.spec.errors import UserError, unknown_name_error

SCHEME = "vlaeval"
_OPTIONS = ("keys", "map", "replan", "timeout", "connect_timeout", "max_message_mb", "benchmark")


@dataclass(frozen=True)
class VlaEvalSettings:
    url: str  # the ws:// address
    keys: KeyMap
    replan: int
    timeout: float
    connect_timeout: float
    max_message: int
    benchmark: str | None = None


def parse_vlaeval_spec(spec: str) -> VlaEvalSettings:
    parts = urlsplit(spec)
    if parts.scheme != SCHEME or not parts.hostname:
        raise UserError(f"vla-eval agent {spec!r} must look like vlaeval://HOST:PORT (optionally ?keys=PRESET)")
    try:
        _ = parts.port
    except ValueError:
        raise UserError(f"vla-eval agent {spec!r} has an invalid port") from None
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in _OPTIONS:
            raise unknown_name_error(f"option of vla-eval agent {spec!r}:", name, _OPTIONS)
        options[name] = value
    if "keys" in options and "map" in options:
        raise UserError(f"vla-eval agent {spec!r}: give keys=PRESET or map=..., not both")
    keys = (parse_key_map(options["map"], nested=True) if "map" in options
            else key_map(options.get("keys", "vla-eval"), VLAEVAL_PRESETS))
    numbers: dict[str, float] = {}
    for name, default in (("replan", keys.replan), ("timeout", DEFAULT_TIMEOUT),
                          ("connect_timeout", DEFAULT_CONNECT_TIMEOUT)):
        try:
            numbers[name] = float(options.get(name, default))
        except ValueError:
            raise UserError(f"vla-eval agent {spec!r}: {name}={options[name]!r} is not a number") from None
        if not math.isfinite(numbers[name]) or numbers[name] < 0 or (name != "replan" and numbers[name] == 0):
            raise UserError(f"vla-eval agent {spec!r}: replan must be >= 0 and the timeouts > 0")
    if numbers["replan"] != int(numbers["replan"]):
        raise UserError(f"vla-eval agent {spec!r}: replan must be a whole number")
    url = urlunsplit(("ws", parts.netloc, parts.path, "", ""))
    return VlaEvalSettings(url=url, keys=keys, replan=int(numbers["replan"]), timeout=numbers["timeout"],
                           connect_timeout=numbers["connect_timeout"],
                           max_message=megabytes(spec, options, "max_message_mb", DEFAULT_MAX_REPLY_MB),
                           benchmark=options.get("benchmark") or None)


def _harness_version() -> str:
    try:
        return importlib_metadata.version("vla-bench")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


class VlaEvalLink:
    """One connection: ``hello`` both ways, then strict request/reply for observations."""

    def __init__(self, settings: VlaEvalSettings) -> None:
        self.settings = settings
        self.broken = False
        self._seq = 0
        self._stack = contextlib.ExitStack()
        self._ws = dial(settings.url, connect_timeout=settings.connect_timeout, max_size=settings.max_message,
                        headers=None, stack=self._stack)
        hello: dict[str, object] = {"protocol_version": PROTOCOL_VERSION, "harness_version": _harness_version(),
                                    "client": "vla-bench"}
        if settings.benchmark:
            hello["benchmark"] = settings.benchmark
        seq = self.send("hello", hello)
        payload = self._receive(time.monotonic() + settings.timeout, seq, "hello")[1]
        version = payload.get("protocol_version")
        if version != PROTOCOL_VERSION:
            self.close()
            raise RemotePolicyError(f"vla-eval server {settings.url} speaks protocol version {version!r}; this "
                                    f"client speaks {PROTOCOL_VERSION} (vla-eval 0.8): use a matching server")
        self.info: dict[str, object] = payload

    def send(self, kind: str, payload: Mapping[str, object]) -> int:
        self._seq += 1
        try:
            frame = pack(kind, payload, self._seq)
        except VlaEvalWireError as exc:
            raise RemotePolicyError(f"cannot encode the {kind} message for {self.settings.url}: {exc}") from None
        try:
            self._ws.send(frame)
        except Exception as exc:  # noqa: BLE001 - closed or reset
            self.close()
            raise RemotePolicyError(f"lost the connection to vla-eval server {self.settings.url}: "
                                    f"{describe(exc)}; reconnecting") from None
        return self._seq

    def _receive(self, deadline: float, seq: int, expect: str) -> tuple[str, dict[str, object]]:
        url = self.settings.url
        try:
            frame = self._ws.recv(timeout=max(deadline - time.monotonic(), 0.0))
        except TimeoutError:
            self.close()
            raise RemotePolicyError(f"vla-eval server {url} did not answer within {self.settings.timeout:g} s; "
                                    "reconnecting") from None
        except Exception as exc:  # noqa: BLE001 - ConnectionClosed and friends
            self.close()
            if too_big(exc):
                raise size_error(url, self.settings.max_message) from None
            raise RemotePolicyError(f"lost the connection to vla-eval server {url}: {describe(exc)}; "
                                    "reconnecting") from None
        try:
            kind, payload, got = unpack(frame)
        except VlaEvalWireError as exc:
            self.close()
            raise RemotePolicyError(f"unreadable message from vla-eval server {url}: {exc}") from None
        if kind == "error":
            if got != seq:  # e.g. a failed episode_start: the reply to this request is still coming
                self.close()
            raise RemotePolicyError(f"vla-eval server {url} failed: {payload.get('error', payload)!r}")
        if kind != expect or got != seq:
            self.close()
            raise RemotePolicyError(f"vla-eval server {url} answered {expect} #{seq} with {kind} #{got}")
        return kind, payload

    def act(self, message: Mapping[str, object]) -> dict[str, object]:
        seq = self.send("observation", message)
        return self._receive(time.monotonic() + self.settings.timeout, seq, "action")[1]

    def close(self) -> None:
        self.broken = True
        with contextlib.suppress(Exception):
            self._stack.close()


def episode_payload(task: TaskSpec) -> dict[str, object]:
    """What ``episode_start`` carries: vla-eval's ``task`` map (name, instruction) and our whole TaskSpec."""
    return {"task": {"name": task.name, "task_description": task.instruction, "instruction": task.instruction},
            "task_spec": task.to_json()}


class VlaEvalPolicy(ConnectionSlot[VlaEvalLink]):
    """One episode slot: one connection, hence one server-side session."""

    def __init__(self, settings: VlaEvalSettings) -> None:
        super().__init__()
        self.settings = settings
        self._task: TaskSpec | None = None
        self._in_episode = False

    def _connected(self) -> VlaEvalLink:
        if self._link is None or self._link.broken:
            self._link = VlaEvalLink(self.settings)
            self._in_episode = False
            if self._task is not None:  # a fresh server-side session: announce the running episode again
                self._link.send("episode_start", episode_payload(self._task))
                self._in_episode = True
        return self._link

    def reset(self, task: TaskSpec) -> None:
        with self._lock:
            if self._link is None or self._link.broken:
                self._task = None  # a new connection: nothing to re-announce, the new episode starts below
            link = self._connected()
            if self._in_episode:
                link.send("episode_end", {"task": {"name": self._task.name if self._task else ""}})
            self._task = task
            link.send("episode_start", episode_payload(task))
            self._in_episode = True

    def act(self, observation: Observation) -> Action:
        with self._lock:
            link = self._connected()
            return reply_actions(f"vla-eval server {self.settings.url}",
                                 link.act(self.settings.keys.to_wire(observation)), self.settings.replan)

    def _farewell(self, link: VlaEvalLink) -> None:
        if self._in_episode and not link.broken:
            with contextlib.suppress(RemotePolicyError):
                link.send("episode_end", {})


def load_vlaeval(spec: str) -> LoadedAgent:
    settings = parse_vlaeval_spec(spec)
    info = hello(lambda: VlaEvalLink(settings),
                 "Is the vla-eval model server running (its /health answers 200 when ready)?").info
    served = str(info.get("model_server") or "vla-eval model server")
    details: dict[str, object] = {"url": settings.url, "keys": settings.keys.name, "replan": settings.replan,
                                  "server": "vla-eval", "server_hello": json_safe(info)}

    def factory() -> VlaEvalPolicy:
        return VlaEvalPolicy(settings)

    return LoadedAgent(spec=spec, kind="remote", factory=factory, name=f"{served} @ {settings.url}", details=details)
