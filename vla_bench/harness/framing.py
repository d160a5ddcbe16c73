"""Length-prefixed frames over a stream socket: the transport between the orchestrator and env workers."""

from __future__ import annotations

import socket
import struct
from typing import Any

from vla_bench.spec.wire import packb, unpackb

_HEADER = struct.Struct(">I")
MAX_FRAME = 1 << 30


class PeerClosed(ConnectionError):
    """The other side closed the connection (a worker that exited or crashed)."""


def send_message(sock: socket.socket, message: Any) -> None:
    payload = packb(message)
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise PeerClosed("connection closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv_message(sock: socket.socket) -> Any:
    (size,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
    if size > MAX_FRAME:
        raise ConnectionError(f"frame of {size} bytes exceeds the {MAX_FRAME}-byte limit")
    return unpackb(_recv_exact(sock, size))
