"""Submissions validated in a child process: stored exactly as in-process ones, refusals keep their status,
message and field, and nothing is written for a refused bundle."""

from __future__ import annotations

from fastapi.testclient import TestClient
from leaderboard_testing import Bundles, DatabaseFactory, make_server


def test_a_child_process_validates_and_stores(sqlite_databases: DatabaseFactory, bundles: Bundles) -> None:
    """SQLite only: the child's database work is store_bundle's, which the API tests run on both backends."""
    server = make_server(sqlite_databases.fresh(), ingest_processes=1)
    try:
        with TestClient(server.app) as client:
            created = client.post("/api/v1/submissions", json=bundles.document("random"), headers=server.user)
            assert created.status_code == 201, created.text
            again = client.post("/api/v1/submissions", json=bundles.document("random"), headers=server.user)
            assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
            before = server.counts()
            bad = bundles.document("zero")
            bad["episodes"][4]["length"] = 10**9
            refused = client.post("/api/v1/submissions", json=bad, headers=server.user)
            assert refused.status_code == 422
            assert refused.json()["field"] == "$.episodes[4].length" and "1000 steps" in refused.json()["detail"]
            assert server.counts() == before
            shown = client.get(f"/api/v1/submissions/{created.json()['id']}").json()
            assert shown["agent"]["name"] == "baseline:random" and shown["status"] == "published"
    finally:
        server.db.dispose()
        sqlite_databases.drop_made()
