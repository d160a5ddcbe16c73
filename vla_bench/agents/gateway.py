"""What every policy gateway client shares: its error type, message-size bounds and the websocket dialler.

A gateway is a remote policy reached over a websocket (openpi's wire, vla-eval's wire, a LeRobot policy
runtime). Each bounds the size of every message it accepts, so a hostile or broken server cannot make an
evaluation allocate without limit: websockets refuses a larger frame (close code 1009) before reading it,
and at most ``MAX_QUEUED_FRAMES`` frames wait in its buffer.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Protocol, SupportsInt, TypeVar

import numpy as np
from numpy.typing import NDArray

from vla_bench.spec.errors import UserError

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

API_KEY_ENV = "VLA_BENCH_POLICY_API_KEY"
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 30.0
DEFAULT_MAX_REPLY_MB = 16.0  # replies are actions (a 1000 x 100 float32 chunk is 0.4 MB) and metadata
MAX_QUEUED_FRAMES = 4  # frames websockets buffers ahead of recv(): strict request/response needs one
MESSAGE_TOO_BIG = 1009  # the websocket close code for a frame over max_size


class RemotePolicyError(RuntimeError):
    """A remote policy call that failed: connection lost, no reply in time, or a server-side error."""


def describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(empty error message)"


def megabytes(spec: str, options: dict[str, str], name: str, default: float) -> int:
    """A size option in MB (``max_message_mb=``) as bytes, checked."""
    text = options.get(name)
    if text is None:
        return int(default * (1 << 20))
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"agent {spec!r}: {name}={text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise UserError(f"agent {spec!r}: {name} must be a positive number of megabytes")
    return max(1024, int(value * (1 << 20)))


def too_big(exc: BaseException) -> bool:
    """Whether ``exc`` is websockets closing the connection over a frame larger than ``max_size``."""
    from websockets.exceptions import ConnectionClosed  # noqa: PLC0415

    if not isinstance(exc, ConnectionClosed):
        return False
    return any(frame is not None and frame.code == MESSAGE_TOO_BIG for frame in (exc.sent, exc.rcvd))


def size_error(url: str, max_size: int) -> RemotePolicyError:
    return RemotePolicyError(f"policy server {url} sent a message over the limit of {max_size / (1 << 20):g} MB; "
                             "the connection was dropped (raise it with ?max_message_mb=N if the server is "
                             "trusted); reconnecting")


def dial(url: str, *, connect_timeout: float, max_size: int, headers: dict[str, str] | None,
         stack: contextlib.ExitStack) -> ClientConnection:
    """A websocket connection to ``url``, retried until ``connect_timeout`` while the server is not up yet.

    An HTTP refusal (401, 404, ...) or an unresolvable host fails at once: waiting will not change it.
    """
    from websockets.exceptions import InvalidStatus  # noqa: PLC0415 - only for remote agents
    from websockets.sync.client import connect  # noqa: PLC0415

    deadline = time.monotonic() + connect_timeout
    last: Exception | None = None
    while True:
        remaining = deadline - time.monotonic()
        try:
            return stack.enter_context(connect(  # as a context manager: what websockets >= 17.1 asks
                url, compression=None, max_size=max_size, max_queue=MAX_QUEUED_FRAMES, proxy=None,
                open_timeout=max(remaining, 0.1), close_timeout=1, additional_headers=headers))
        except InvalidStatus as exc:
            hint = f" (set {API_KEY_ENV})" if exc.response.status_code in (401, 403) else ""
            raise RemotePolicyError(f"policy server {url} refused the connection: HTTP "
                                    f"{exc.response.status_code} {exc.response.reason_phrase}{hint}") from None
        except socket.gaierror as exc:
            raise RemotePolicyError(f"cannot resolve the host of policy server {url}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - refused, reset, handshake failure: retry until the deadline
            last = exc
        if time.monotonic() + 0.2 > deadline:
            raise RemotePolicyError(f"cannot connect to policy server {url} within {connect_timeout:g} s: "
                                    f"{describe(last)}")
        time.sleep(0.2)


class Connection(Protocol):
    broken: bool

    def close(self) -> None: ...


ConnectionT = TypeVar("ConnectionT", bound=Connection)


class ConnectionSlot(Generic[ConnectionT]):
    """One episode slot's connection to a gateway (opened by the subclass when first needed), and its hang-up:
    on ``close``, or when the policy object is collected, since the harness drops policies without closing them."""

    def __init__(self) -> None:
        self._link: ConnectionT | None = None
        self._lock = threading.Lock()

    def _farewell(self, link: ConnectionT) -> None:
        """What to tell the server before an orderly hang-up (nothing by default)."""

    def close(self) -> None:
        with self._lock:
            if self._link is not None:
                self._farewell(self._link)
                self._link.close()
                self._link = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if self._link is not None:
                self._link.close()


def hello(connect: Callable[[], ConnectionT], hint: str) -> ConnectionT:
    """Connects once and hangs up, keeping what the server said on connecting; a failure is a
    :class:`UserError` that ends with ``hint`` (what to check)."""
    try:
        link = connect()
    except RemotePolicyError as exc:
        raise UserError(f"{exc}. {hint}") from None
    link.close()
    return link


def reply_actions(server: str, reply: Mapping[str, object], replan: int) -> NDArray[Any]:
    """The ``actions`` of a server's reply, [A] or a chunk [T, A] cut to its first ``replan`` steps (0: all).

    ``server`` names the sender in the error (e.g. "policy server ws://h:8000")."""
    if "actions" not in reply:
        raise RemotePolicyError(f"{server} replied without 'actions' (keys: {sorted(map(str, reply))})")
    actions = np.asarray(reply["actions"])
    if actions.dtype.kind not in "biuf" or actions.ndim not in (1, 2):
        raise RemotePolicyError(f"{server} sent actions of {actions.dtype} {actions.shape}: expected numbers [A] "
                                "or a chunk [T, A]")
    return actions[:replan] if replan and actions.ndim == 2 else actions


def as_int(value: object) -> int:
    """``int(value)`` of a decoded message value, for the numbers and strings ``int`` takes."""
    if isinstance(value, str | bytes | SupportsInt):
        return int(value)
    raise TypeError(f"int() argument must be a string, a bytes-like object or a real number, not "
                    f"'{type(value).__name__}'")


def json_safe(value: object) -> object:
    """``value`` with anything JSON cannot hold replaced by a short description (for the results bundle)."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if isinstance(value, dict):
            return {str(k): json_safe(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [json_safe(v) for v in value]
        if isinstance(value, np.ndarray):
            return f"<array {value.dtype.str} {list(value.shape)}>"
        if isinstance(value, bytes):
            return f"<{len(value)} bytes>"
        return repr(value)[:200]
