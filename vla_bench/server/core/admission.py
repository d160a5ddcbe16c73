"""Admission control: a worker serves at most ``slots`` requests at once, lets at most ``max_queue`` wait for
a slot (each for at most ``timeout_s``), and answers the rest at once with 503 and Retry-After.

Why: a request that is admitted gets a thread and a database connection without waiting (the pool is sized
from the slots), so an overload shows up here, as a quick, honest 503, and never as threads parked on the
connection pool until its timeout (the stall and the 500s of a burst).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass
class _Gate:
    """The slots of one event loop (a TestClient runs its own loop; uvicorn has one per worker)."""

    semaphore: anyio.Semaphore
    waiting: int = 0


class Slots:
    """``slots`` holders at once, at most ``max_queue`` waiting, each for at most ``timeout_s``."""

    def __init__(self, slots: int, *, max_queue: int, timeout_s: float) -> None:
        self.slots = slots
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.refused = 0
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gate] = weakref.WeakKeyDictionary()

    def _gate(self) -> _Gate:
        loop = asyncio.get_running_loop()
        found = self._gates.get(loop)
        if found is None:
            found = self._gates[loop] = _Gate(anyio.Semaphore(self.slots))
        return found

    async def acquire(self) -> bool:
        """True: a slot is held (``release`` it); False: refuse the request (queue full or waited too long)."""
        gate = self._gate()
        try:
            gate.semaphore.acquire_nowait()
            return True
        except anyio.WouldBlock:
            pass
        if gate.waiting >= self.max_queue:
            self.refused += 1
            return False
        gate.waiting += 1
        try:
            with anyio.move_on_after(self.timeout_s):
                await gate.semaphore.acquire()
                return True
            self.refused += 1
            return False
        finally:
            gate.waiting -= 1

    def release(self) -> None:
        self._gate().semaphore.release()


def overloaded_response(retry_after_s: int, api: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The 503 answer: JSON ``{"detail": ...}`` for the API, a short HTML page otherwise."""
    message = f"the server is busy: retry in {retry_after_s} s"
    if api:
        body, kind = json.dumps({"detail": message}).encode(), b"application/json"
    else:
        body = f"<!doctype html><title>503 busy</title><p>{message}</p>".encode()
        kind = b"text/html; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
               (b"retry-after", str(retry_after_s).encode()), (b"cache-control", b"no-store")]
    return 503, headers, body


class Admission:
    """ASGI middleware; ``exempt(scope)`` requests (static files, the upload that has its own limit) pass."""

    def __init__(self, app: ASGIApp, *, slots: Slots, retry_after_s: int,
                 exempt: Callable[[Scope], bool] = lambda scope: False, api_prefix: str = "/api/") -> None:
        self.app = app
        self.slots = slots
        self.retry_after_s = retry_after_s
        self._exempt = exempt
        self._api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._exempt(scope):
            await self.app(scope, receive, send)
            return
        if not await self.slots.acquire():
            status, headers, body = overloaded_response(self.retry_after_s,
                                                        scope["path"].startswith(self._api_prefix))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.slots.release()
