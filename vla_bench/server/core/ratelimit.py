"""Per-token sliding-window rate limit for submissions, kept in the database.

Every attempt counts, refused ones too: validation (schema, plan, score recomputation) is the expensive
part, and the limit exists to bound it. The hits live in the ``rate_limit_hits`` table, so every uvicorn
worker and every replica on the same database share one quota (a limit in process memory would give each
of N workers its own, N times the limit). Checking and counting happen in one write transaction, serialized
per key: SQLite's ``BEGIN IMMEDIATE`` serializes all writers, PostgreSQL takes a transaction-scoped
advisory lock on the key.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from sqlalchemy import delete, func, select, text

from vla_bench.server.core.db import Database
from vla_bench.server.models import RateLimitHit


class RateLimiter:
    def __init__(self, db: Database, limit: int, window_s: float, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.limit = limit
        self.window_s = window_s
        self._clock = clock  # wall-clock seconds: the processes sharing a database share no monotonic clock

    def acquire(self, key: str) -> int | None:
        """Count one attempt for ``key``; None if allowed, else the seconds to wait (for Retry-After).
        Blocking (a database transaction): call it from a worker thread."""
        with self.db.write() as session:
            if self.db.backend == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})
            now = self._clock()
            session.execute(delete(RateLimitHit).where(RateLimitHit.key == key, RateLimitHit.at <= now - self.window_s))
            count, oldest = session.execute(
                select(func.count(), func.min(RateLimitHit.at)).where(RateLimitHit.key == key)).one()
            if count >= self.limit:
                return max(1, math.ceil(oldest + self.window_s - now))
            session.add(RateLimitHit(key=key, at=now))
            return None
