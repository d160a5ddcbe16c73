"""GET /api/v1/compare: the harness's paired comparison of two stored submissions."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from leaderboard_testing import Bundles, Server

from vla_bench.harness.bundle import read_bundle
from vla_bench.protocols import get_protocol
from vla_bench.scoring.compare import paired_comparison


def _submit(client: TestClient, server: Server, bundles: Bundles, name: str) -> int:
    response = client.post("/api/v1/submissions", json=bundles.document(name), headers=server.user)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_compare_pairs_the_stored_episodes(client: TestClient, server: Server, bundles: Bundles) -> None:
    a, b = _submit(client, server, bundles, "random"), _submit(client, server, bundles, "zero")
    response = client.get("/api/v1/compare", params={"a": a, "b": b})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = paired_comparison(get_protocol("mujoco/hopper@v1"), read_bundle(bundles.random).records,
                                 read_bundle(bundles.zero).records)
    assert body["comparison"] == json.loads(json.dumps(expected))
    assert body["comparison"]["overall"]["n_pairs"] == 50
    assert (body["a"]["id"], body["b"]["id"]) == (a, b)


def test_compare_refuses_other_protocols_and_unknown_ids(client: TestClient, server: Server,
                                                         bundles: Bundles) -> None:
    hopper, walker = _submit(client, server, bundles, "random"), _submit(client, server, bundles, "walker")
    different = client.get("/api/v1/compare", params={"a": hopper, "b": walker})
    assert different.status_code == 422 and "mujoco/walker2d@v1" in different.json()["detail"]
    missing = client.get("/api/v1/compare", params={"a": hopper, "b": 999})
    assert missing.status_code == 404 and "no submission 999" in missing.json()["detail"]
