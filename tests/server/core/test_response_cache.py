"""Cached public answers are reused only while the board is unchanged: a new submission, a moderation action
or a deletion shows at once; clients revalidate with ETag (304); requests with a token bypass the cache."""

from __future__ import annotations

from fastapi.testclient import TestClient
from leaderboard_testing import Bundles, Server

BOARD = "/api/v1/leaderboards/mujoco/hopper@v1"
PAGE = "/leaderboard/mujoco/hopper@v1"


def test_every_change_of_the_board_shows_at_once(client: TestClient, server: Server, bundles: Bundles) -> None:
    assert client.get(BOARD).json()["count"] == 0
    first = client.post("/api/v1/submissions", json=bundles.document("random"), headers=server.user).json()["id"]
    assert client.get(BOARD).json()["count"] == 1 and "baseline:random" in client.get(PAGE).text
    second = client.post("/api/v1/submissions", json=bundles.document("zero"), headers=server.user).json()["id"]
    assert client.get(BOARD).json()["count"] == 2
    assert client.patch(f"/api/v1/submissions/{second}", json={"hidden": True}, headers=server.admin).status_code == 200
    assert [e["id"] for e in client.get(BOARD).json()["data"]] == [first]
    assert client.get(f"/submissions/{second}").status_code == 404
    unhidden = client.patch(f"/api/v1/submissions/{second}", json={"hidden": False}, headers=server.admin)
    assert unhidden.status_code == 200
    assert client.get(f"/submissions/{second}").status_code == 200
    assert client.delete(f"/api/v1/submissions/{first}", headers=server.admin).status_code == 204
    assert [e["id"] for e in client.get(BOARD).json()["data"]] == [second]
    assert client.get(f"/api/v1/submissions/{first}").status_code == 404


def test_an_unchanged_board_revalidates_with_304(client: TestClient, server: Server, bundles: Bundles) -> None:
    client.post("/api/v1/submissions", json=bundles.document("random"), headers=server.user)
    answer = client.get(PAGE)
    etag = answer.headers["etag"]
    assert answer.headers["cache-control"] == "no-cache"
    again = client.get(PAGE, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    client.post("/api/v1/submissions", json=bundles.document("zero"), headers=server.user)
    changed = client.get(PAGE, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_admins_see_hidden_entries_past_the_cache(client: TestClient, server: Server, bundles: Bundles) -> None:
    made = client.post("/api/v1/submissions", json=bundles.document("random"), headers=server.user).json()["id"]
    client.patch(f"/api/v1/submissions/{made}", json={"hidden": True}, headers=server.admin)
    assert client.get(f"/api/v1/submissions/{made}").status_code == 404  # cached for the public
    assert client.get(f"/api/v1/submissions/{made}", headers=server.admin).json()["hidden"] is True
