"""GET /api/v1/leaderboards: ranking by the primary metric, sorting, paging, filters."""

from __future__ import annotations

from fastapi.testclient import TestClient
from leaderboard_testing import Bundles, Server

from vla_bench import protocols
from vla_bench.harness.bundle import read_bundle
from vla_bench.scoring.scores import compute_scores

BOARD = "/api/v1/leaderboards/mujoco/hopper@v1"


def _submit_all(client: TestClient, server: Server, bundles: Bundles) -> dict[str, int]:
    ids = {}
    for name in ("random", "zero", "walker"):
        response = client.post("/api/v1/submissions", json=bundles.document(name), headers=server.user)
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    return ids


def _expected_scores(bundles: Bundles) -> dict[str, float]:
    protocol = protocols.get_protocol("mujoco/hopper@v1")
    expected = {}
    for name in ("random", "zero"):
        mean = compute_scores(protocol, read_bundle(getattr(bundles, name)).records)["aggregate"]["mean"]
        assert mean is not None and mean["mean"] is not None
        expected[name] = mean["mean"]
    return expected


def test_a_board_ranks_by_the_primary_metric(client: TestClient, server: Server, bundles: Bundles) -> None:
    ids = _submit_all(client, server, bundles)
    scores = _expected_scores(bundles)
    best_first = sorted(scores, key=scores.__getitem__, reverse=True)
    page = client.get(BOARD).json()
    assert page["count"] == 2 and page["sort"] == "score" and page["order"] == "desc"
    assert [e["id"] for e in page["data"]] == [ids[name] for name in best_first]
    assert [e["rank"] for e in page["data"]] == [1, 2]
    top = page["data"][0]
    assert top["score"]["mean"] == scores[best_first[0]]
    assert top["score"]["ci95"][0] <= top["score"]["mean"] <= top["score"]["ci95"][1]
    assert page["protocol"]["sha256"] == protocols.get_protocol("mujoco/hopper@v1").sha256()


def test_sorting_keeps_ranks_and_paging_counts_everything(client: TestClient, server: Server,
                                                          bundles: Bundles) -> None:
    _submit_all(client, server, bundles)
    ascending = client.get(BOARD, params={"sort": "score", "order": "asc"}).json()["data"]
    assert [e["rank"] for e in ascending] == [2, 1]
    by_agent = client.get(BOARD, params={"sort": "agent"}).json()
    assert by_agent["order"] == "asc"
    assert [e["agent"]["name"] for e in by_agent["data"]] == ["baseline:random", "baseline:zero"]
    second = client.get(BOARD, params={"limit": 1, "offset": 1}).json()
    assert second["count"] == 2 and len(second["data"]) == 1 and second["data"][0]["rank"] == 2


def test_bad_board_queries_are_refused(client: TestClient) -> None:
    unknown = client.get("/api/v1/leaderboards/mujoco/hoper@v1")
    assert unknown.status_code == 404 and "Did you mean 'mujoco/hopper@v1'" in unknown.json()["detail"]
    assert client.get(BOARD, params={"sort": "luck"}).status_code == 422
    assert client.get(BOARD, params={"limit": 0}).status_code == 422


def test_the_board_list_has_every_protocol_and_its_best_entry(client: TestClient, server: Server,
                                                              bundles: Bundles) -> None:
    ids = _submit_all(client, server, bundles)
    scores = _expected_scores(bundles)
    boards = {b["protocol_id"]: b for b in client.get("/api/v1/leaderboards").json()}
    assert set(boards) == set(protocols.protocol_ids())
    assert boards["mujoco/hopper@v1"]["n_entries"] == 2
    assert boards["mujoco/hopper@v1"]["best"]["id"] == ids[max(scores, key=scores.__getitem__)]
    assert boards["mujoco/walker2d@v1"]["best"]["id"] == ids["walker"]
    assert boards["mujoco/ant@v1"] == {**boards["mujoco/ant@v1"], "n_entries": 0, "best": None}
    only = client.get("/api/v1/leaderboards", params={"benchmark": "pandapickcube"}).json()
    assert {b["benchmark"] for b in only} == {"pandapickcube"}


def test_protocols_and_benchmarks_come_from_the_registry(client: TestClient) -> None:
    listed = client.get("/api/v1/protocols").json()
    assert [p["id"] for p in listed] == protocols.protocol_ids()
    hopper = client.get("/api/v1/protocols/mujoco/hopper@v1").json()
    expected = protocols.get_protocol("mujoco/hopper@v1")
    assert hopper["sha256"] == expected.sha256() and hopper["n_episodes"] == expected.n_episodes
    benchmarks = client.get("/api/v1/benchmarks").json()
    assert [b["name"] for b in benchmarks] == protocols.benchmark_names()
    assert client.get("/api/v1/protocols/nope/x@v1").status_code == 404
    assert client.get("/api/v1/schemas/summary").json()["$id"] == "vla-bench/summary@1"


def test_the_api_is_described_by_openapi(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    for path in ("/api/v1/submissions", "/api/v1/submissions/{submission_id}", "/api/v1/leaderboards",
                 "/api/v1/leaderboards/{protocol_id}", "/api/v1/protocols", "/api/v1/benchmarks", "/api/v1/compare"):
        assert path in paths, path
    post = paths["/api/v1/submissions"]["post"]
    assert {"201", "200", "400", "401", "413", "422", "429"} <= set(post["responses"])
    assert "requestBody" in post and post["security"]


def test_entries_carry_the_boards_tie_aware_rank_ranges(client: TestClient, server: Server,
                                                        bundles: Bundles) -> None:
    _submit_all(client, server, bundles)
    page = client.get(BOARD).json()
    assert "Holm" in page["rank_method"] and page["n_ranked"] == 2
    for entry in page["data"]:
        assert 1 <= entry["rank_low"] <= entry["rank"] <= entry["rank_high"] <= page["count"]
    ascending = client.get(BOARD, params={"sort": "score", "order": "asc"}).json()["data"]
    by_id = {e["id"]: (e["rank_low"], e["rank_high"]) for e in page["data"]}
    assert {e["id"]: (e["rank_low"], e["rank_high"]) for e in ascending} == by_id  # the sort order changes nothing
    empty = client.get("/api/v1/leaderboards/mujoco/ant@v1").json()
    assert empty["data"] == [] and empty["rank_method"] is None and empty["n_ranked"] == 0
