"""Rendered public answers (leaderboards, submission pages, the overview), reused until the board changes.

A board page costs a ranked query and a template render; it changes only when a submission is added, moderated,
verified or deleted. Every such change writes a ``submission_events`` row or removes a submission, so the pair
(newest event id, number of submissions) is a version that any process sharing the database can read in one
cheap query: each worker keeps its own cache and none can serve a stale page. Answers carry an ``ETag`` of
that version and ``Cache-Control: no-cache``, so a client revalidates and gets a bodiless 304 while nothing
changed. Requests with a token (admins may see hidden entries) are never cached.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vla_bench.server.core.db import Database
from vla_bench.server.models import Submission, SubmissionEvent

CACHEABLE = re.compile(r"^/(|leaderboard/.+|submissions/\d+|compare|api/v1/leaderboards(/.+)?|api/v1/submissions/\d+"
                       r"|api/v1/compare)$")
MAX_BODY = 2 * 1024 * 1024
MAX_TOTAL = 64 * 1024 * 1024


def board_version(db: Database) -> str:
    with db.session() as session:
        newest, count = session.execute(select(
            select(func.max(SubmissionEvent.id)).scalar_subquery(),
            select(func.count()).select_from(Submission).scalar_subquery())).one()
    return f"{newest or 0}.{count}"


@dataclass(frozen=True)
class Entry:
    version: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: bytes


class ResponseCache:
    """ASGI middleware: GETs of :data:`CACHEABLE` paths without a token, answered 200, are kept per version."""

    def __init__(self, app: ASGIApp, *, version: Callable[[], str]) -> None:
        self.app = app
        self._version = version
        self._entries: OrderedDict[tuple[str, bytes], Entry] = OrderedDict()
        self._size = 0
        self.hits = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._cacheable(scope):
            await self.app(scope, receive, send)
            return
        version = await anyio.to_thread.run_sync(self._version)
        key = (scope["path"], scope.get("query_string", b""))
        entry = self._entries.get(key)
        if entry is not None and entry.version == version:
            self._entries.move_to_end(key)
            self.hits += 1
            await self._answer(scope, send, entry)
            return
        await self._fill(scope, receive, send, key, version)

    @staticmethod
    def _cacheable(scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "GET" or not CACHEABLE.match(scope["path"]):
            return False
        return not any(name == b"authorization" for name, _ in scope["headers"])

    async def _answer(self, scope: Scope, send: Send, entry: Entry) -> None:
        wanted = dict(scope["headers"]).get(b"if-none-match")
        if wanted is not None and entry.etag in [tag.strip() for tag in wanted.split(b",")]:
            await send({"type": "http.response.start", "status": 304,
                        "headers": [(b"etag", entry.etag), (b"cache-control", b"no-cache")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": entry.headers})
        await send({"type": "http.response.body", "body": entry.body})

    async def _fill(self, scope: Scope, receive: Receive, send: Send, key: tuple[str, bytes], version: str) -> None:
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        assert start is not None
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"etag", b"cache-control")]
        if start["status"] != 200 or len(body) > MAX_BODY:
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        etag = b'W/"' + hashlib.sha256(version.encode() + b"\0" + body).hexdigest()[:20].encode() + b'"'
        entry = Entry(version, [*headers, (b"etag", etag), (b"cache-control", b"no-cache")], body, etag)
        self._store(key, entry)
        await self._answer(scope, send, entry)

    def _store(self, key: tuple[str, bytes], entry: Entry) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._size -= len(old.body)
        self._entries[key] = entry
        self._size += len(entry.body)
        while self._size > MAX_TOTAL and self._entries:
            _, evicted = self._entries.popitem(last=False)
            self._size -= len(evicted.body)
