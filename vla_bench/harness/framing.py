"""Length-prefixed frames over a stream socket: the transport between the orchestrator and env workers.

Each frame holds one typed worker message (``spec/messages.py``: msgpack, no pickle)."""

from __future__ import annotations

import socket
import struct

from vla_bench.spec.messages import Message, decode, encode
from vla_bench.spec.wire import packb, unpackb

_HEADER = struct.Struct(">I")
MAX_FRAME = 1 << 30


class PeerClosed(ConnectionError):
    """The other side closed the connection (a worker that exited or crashed)."""


def send_message(sock: socket.socket, message: Message) -> None:
    payload = encode(message)
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise PeerClosed("connection closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket) -> bytes:
    (size,) = _HEADER.unpack(recv_exact(sock, _HEADER.size))
    if size > MAX_FRAME:
        raise ConnectionError(f"frame of {size} bytes exceeds the {MAX_FRAME}-byte limit")
    return recv_exact(sock, size)


def recv_message(sock: socket.socket) -> Message:
    return decode(recv_frame(sock))


def send_plain(sock: socket.socket, data: dict[str, object]) -> None:
    """A frame holding a plain map (the Ray dial-back greeting, which precedes the worker conversation)."""
    payload = packb(data)
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def recv_plain(sock: socket.socket) -> object:
    return unpackb(recv_frame(sock))
