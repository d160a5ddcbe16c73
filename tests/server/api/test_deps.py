"""Links in API answers come from the configured public URL, never from the request's Host header."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from leaderboard_testing import Bundles, DatabaseFactory, make_server
from pydantic import ValidationError

from vla_bench.server.core.config import Settings


def test_a_forged_host_header_does_not_move_the_links(databases: DatabaseFactory, bundles: Bundles) -> None:
    server = make_server(databases.fresh(), public_url="https://board.example/vla/")
    try:
        with TestClient(server.app) as client:
            forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
            created = client.post("/api/v1/submissions", json=bundles.document("random"),
                                  headers={**server.user, **forged}).json()
            assert created["url"] == f"https://board.example/vla/submissions/{created['id']}"
            board = client.get("/api/v1/leaderboards/mujoco/hopper@v1", headers=forged).json()
            assert board["protocol"]["leaderboard_url"] == "https://board.example/vla/leaderboard/mujoco/hopper@v1"
            assert board["data"][0]["url"].startswith("https://board.example/vla/submissions/")
            assert "evil.example" not in client.get("/api/v1/leaderboards", headers=forged).text
    finally:
        server.db.dispose()


@pytest.mark.parametrize("url", ["ftp://board.example", "https://", "https://board.example/?next=evil", "board"])
def test_a_public_url_that_cannot_be_a_link_base_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="PUBLIC_URL"):
        Settings(public_url=url)
