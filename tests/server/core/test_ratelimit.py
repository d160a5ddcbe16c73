"""The sliding-window rate limit, kept in the database: on a controlled clock, and shared by two apps on
one database as two uvicorn workers (or replicas) would be."""

from __future__ import annotations

from fastapi.testclient import TestClient
from leaderboard_testing import Bundles, DatabaseFactory, make_server

from vla_bench.server.core.config import Settings
from vla_bench.server.core.db import Database
from vla_bench.server.core.ratelimit import RateLimiter
from vla_bench.server.main import create_app


def test_the_window_slides_and_retry_after_is_the_wait(databases: DatabaseFactory) -> None:
    now = [1000.0]
    db = Database(databases.fresh())
    try:
        limiter = RateLimiter(db, limit=2, window_s=60, clock=lambda: now[0])
        assert limiter.acquire("t") is None
        now[0] += 10
        assert limiter.acquire("t") is None
        assert limiter.acquire("t") == 50  # the first hit leaves the window 50 s from now
        assert limiter.acquire("other") is None  # per key
        now[0] += 50.5
        assert limiter.acquire("t") is None  # the first hit left the window
        assert limiter.acquire("t") is not None
    finally:
        db.dispose()


def test_workers_on_one_database_share_one_quota(databases: DatabaseFactory, bundles: Bundles) -> None:
    """Two apps = two worker processes: each has its own memory, the quota is still 3 in all."""
    first = make_server(databases.fresh(), submit_rate_limit=3)
    second = create_app(Settings(database_url=first.settings.database_url, results_dir=None, submit_rate_limit=3))
    statuses = []
    try:
        with TestClient(first.app) as one, TestClient(second) as two:
            for index in range(5):
                client = (one, two)[index % 2]
                document = bundles.document("random")
                document["summary"]["agent"]["name"] = f"attempt-{index}"
                response = client.post("/api/v1/submissions", json=document, headers=first.user)
                statuses.append(response.status_code)
                if response.status_code == 429:
                    assert int(response.headers["retry-after"]) > 3000
                    assert "at most 3 submissions" in response.json()["detail"]
    finally:
        second.state.db.dispose()
        first.db.dispose()
    assert statuses == [201, 201, 201, 429, 429]
    assert first.counts()["submissions"] == 3
