"""POST/GET/PATCH/DELETE /api/v1/submissions on SQLite and PostgreSQL: real bundles are accepted and stored
once; every kind of bad input is refused with the right status, a message naming the problem, and no
change to the database."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from leaderboard_testing import Bundles, Server, make_server

from vla_bench.harness.bundle import read_bundle
from vla_bench.protocols import get_protocol
from vla_bench.scoring.scores import compute_scores

URL = "/api/v1/submissions"


def test_a_real_bundle_is_published_with_the_scores_the_server_recomputed(
    client: TestClient, server: Server, bundles: Bundles
) -> None:
    response = client.post(URL, json=bundles.document("random"), headers=server.user)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["duplicate"] is False and created["status"] == "published"
    assert created["url"].endswith(f"/submissions/{created['id']}")

    detail = client.get(f"{URL}/{created['id']}").json()
    bundle = read_bundle(bundles.random)
    recomputed = compute_scores(get_protocol("mujoco/hopper@v1"), bundle.records)
    assert detail["scores"] == json.loads(json.dumps(recomputed))
    recomputed_mean = recomputed["aggregate"]["mean"]
    assert recomputed_mean is not None and detail["score"]["mean"] == pytest.approx(recomputed_mean["mean"])
    assert detail["submitter"] == "alice" and detail["is_baseline"] is False
    assert [e["state"] for e in detail["events"]] == ["submitted", "validated", "published"]
    assert detail["provenance"]["harness_version"] == bundle.summary["provenance"]["harness_version"]
    counts = server.counts()
    assert (counts["submissions"], counts["submission_bundles"], counts["submission_events"]) == (1, 1, 3)


def test_a_declared_training_run_is_stored_and_shown(client: TestClient, server: Server, bundles: Bundles) -> None:
    document = bundles.document("random")
    document["summary"]["agent"]["training"] = {"group": "random-policy", "seed": 3}
    response = client.post(URL, json=document, headers=server.user)
    assert response.status_code == 201, response.text
    agent = client.get(f"{URL}/{response.json()['id']}").json()["agent"]
    assert agent["training"] == {"group": "random-policy", "seed": 3}


def test_the_stored_bundle_downloads_as_submitted(client: TestClient, server: Server, bundles: Bundles) -> None:
    document = bundles.document("random")
    submission_id = client.post(URL, json=document, headers=server.user).json()["id"]
    response = client.get(f"{URL}/{submission_id}/bundle")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    assert response.json() == document
    # and what was downloaded is a valid submission again: the same one
    again = client.post(URL, json=response.json(), headers=server.user)
    assert again.status_code == 200 and again.json()["id"] == submission_id


def test_a_duplicate_bundle_is_answered_with_the_existing_submission(
    client: TestClient, server: Server, bundles: Bundles
) -> None:
    first = client.post(URL, json=bundles.document("random"), headers=server.user)
    rerun = bundles.document("random")
    for line in rerun["episodes"]:  # a re-run of the same deterministic agent: other wall-clock timings only
        line["timings"] = {key: value * 1.5 + 0.01 for key, value in line.get("timings", {}).items()}
    rerun["episodes"].reverse()  # finished in another order
    second = client.post(URL, json=rerun, headers=server.user)  # another owner's copy is refused (verification)
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["duplicate"] is True and second.json()["id"] == first.json()["id"]
    assert server.counts()["submissions"] == 1


def test_the_same_episodes_under_another_agent_identity_are_a_new_submission(
    client: TestClient, server: Server, bundles: Bundles
) -> None:
    client.post(URL, json=bundles.document("random"), headers=server.user)
    renamed = bundles.document("random")
    renamed["summary"]["agent"]["name"] = "my-random-v2"
    response = client.post(URL, json=renamed, headers=server.user)
    assert response.status_code == 201 and response.json()["duplicate"] is False
    assert server.counts()["submissions"] == 2


# --- bad input ----------------------------------------------------------------------------------------------
Edit = Callable[[dict[str, Any]], Any]


def _set(path: list[Any], value: Any) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _scale(path: list[Any], factor: float) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] *= factor
    return edit


def _index_of(document: dict[str, Any], episode_index: int) -> int:
    return next(i for i, line in enumerate(document["episodes"]) if line["episode_index"] == episode_index)


def _drop_episodes(*indices: int) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        document["episodes"] = [e for e in document["episodes"] if e["episode_index"] not in indices]
        document["summary"]["n_episodes_done"] = len(document["episodes"])
    return edit


def _duplicate_episode(document: dict[str, Any]) -> None:
    document["episodes"].append(dict(document["episodes"][_index_of(document, 7)]))


def _foreign_episode(document: dict[str, Any]) -> None:
    document["episodes"][_index_of(document, 7)]["episode_index"] = 50


def _wrong_seed(document: dict[str, Any]) -> None:
    document["episodes"][_index_of(document, 7)]["seed"] += 1


def _better_return(document: dict[str, Any]) -> None:
    document["episodes"][_index_of(document, 7)]["total_return"] += 1000.0  # claims left as they were


BAD_BUNDLES = {
    "schema: wrong type": (_set(["episodes", 3, "length"], "long"), "$.episodes[3].length", "JSON Schema"),
    "schema: missing field": (lambda d: d["summary"].pop("agent"), "$.summary", "'agent' is a required property"),
    "schema: unknown field": (_set(["summary", "extra"], 1), "$.summary", "Additional properties"),
    "envelope: unknown field": (_set(["comment"], "hi"), "$.comment", "unknown field 'comment'"),
    "tampered aggregate score": (_scale(["summary", "scores", "aggregate", "mean", "mean"], 1.5),
                                 "$.summary.scores.aggregate.mean.mean", "claimed score differs"),
    "tampered task score": (_scale(["summary", "scores", "tasks", "hopper", "normalized_score", "mean"], 1.001),
                            "$.summary.scores.tasks.hopper.normalized_score.mean", "recomputed"),
    "tampered episode return": (_better_return, "$.summary.scores.tasks.hopper.mean_return.mean",
                                "claimed score differs"),
    "wrong protocol hash": (_set(["summary", "protocol", "sha256"], "0" * 64), "$.summary.protocol.sha256",
                            "protocol hash mismatch"),
    "unknown protocol": (_set(["summary", "protocol", "id"], "mujoco/hoper@v1"), "$.summary.protocol.id",
                         "Did you mean 'mujoco/hopper@v1'"),
    "wrong protocol version": (_set(["summary", "protocol", "version"], 2), "$.summary.protocol.version",
                               "does not match"),
    "missing episodes": (_drop_episodes(4, 5, 6), "$.episodes", "3 planned episode(s) of mujoco/hopper@v1 are missing: "
                                                                "'hopper' #4, 'hopper' #5, 'hopper' #6"),
    "duplicated episode": (_duplicate_episode, None, "'hopper' #7 appears twice"),
    "foreign episode": (_foreign_episode, None, "'hopper' #50 is not in mujoco/hopper@v1's plan"),
    "wrong seed": (_wrong_seed, None, "the plan's seed is"),
    "incomplete run": (_set(["summary", "status"], "incomplete"), "$.summary.status", "only complete runs"),
    "episode count claim": (_set(["summary", "n_episodes_done"], 49), "$.summary.n_episodes_done", "49"),
    "training group with a space": (_set(["summary", "agent", "training"], {"group": "my method", "seed": 0}),
                                    "$.summary.agent.training.group", "JSON Schema"),
    "negative training seed": (_set(["summary", "agent", "training"], {"group": "bc", "seed": -1}),
                               "$.summary.agent.training.seed", "JSON Schema"),
}


@pytest.mark.parametrize("case", list(BAD_BUNDLES))
def test_a_bad_bundle_is_refused_naming_the_problem_and_nothing_is_stored(
    case: str, client: TestClient, server: Server, bundles: Bundles
) -> None:
    edit, field, fragment = BAD_BUNDLES[case]
    document = bundles.document("random")
    edit(document)
    before = server.counts()
    response = client.post(URL, json=document, headers=server.user)
    assert response.status_code == 422, response.text
    body = response.json()
    assert fragment in body["detail"]
    if field is not None:
        assert body["field"] == field
    else:
        assert body["field"].startswith("$.episodes[")
    assert server.counts() == before


def test_an_unofficial_limited_run_is_refused(client: TestClient, server: Server, bundles: Bundles) -> None:
    before = server.counts()
    response = client.post(URL, json=bundles.document("limited"), headers=server.user)
    assert response.status_code == 422
    assert response.json()["field"] == "$.summary.official"
    assert "unofficial" in response.json()["detail"] and "--limit-episodes" in response.json()["detail"]
    assert server.counts() == before


@pytest.mark.parametrize(("body", "fragment"), [
    (b'{"summary": {"schema": ', "not valid JSON"),
    (b'{"summary": NaN, "episodes": []}', "NaN is not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
])
def test_a_body_that_is_not_json_is_a_400(body: bytes, fragment: str, client: TestClient, server: Server) -> None:
    before = server.counts()
    response = client.post(URL, content=body, headers={**server.user, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert fragment in response.json()["detail"]
    assert server.counts() == before


@pytest.mark.parametrize("body", [[], {"summary": {}}, {"summary": [], "episodes": []}, {"summary": {}, "episodes": 3}])
def test_a_body_of_the_wrong_shape_is_a_422(body: Any, client: TestClient, server: Server) -> None:
    before = server.counts()
    response = client.post(URL, json=body, headers=server.user)
    assert response.status_code == 422
    assert response.json()["field"] in ("$", "$.summary", "$.episodes")
    assert server.counts() == before


def test_an_oversized_body_is_a_413_whether_declared_or_streamed(databases: Any, bundles: Bundles) -> None:
    small = make_server(databases.fresh(), max_body_bytes=4096)
    try:
        with TestClient(small.app) as client:
            before = small.counts()
            raw = json.dumps(bundles.document("random")).encode()
            declared = client.post(URL, content=raw, headers={**small.user, "Content-Type": "application/json"})
            streamed = client.post(URL, content=(raw[i:i + 1000] for i in range(0, len(raw), 1000)),
                                   headers={**small.user, "Content-Type": "application/json"})
            for response in (declared, streamed):
                assert response.status_code == 413
                assert "larger than this server's limit of 4096 bytes" in response.json()["detail"]
            assert small.counts() == before
    finally:
        small.db.dispose()


@pytest.mark.parametrize(("headers", "fragment"), [
    ({}, "missing API token"),
    ({"Authorization": "Bearer vlab_not-a-real-token"}, "invalid or revoked API token"),
    ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "missing API token"),
])
def test_no_or_an_invalid_token_is_a_401(headers: dict[str, str], fragment: str, client: TestClient,
                                         server: Server, bundles: Bundles) -> None:
    before = server.counts()
    response = client.post(URL, json=bundles.document("random"), headers=headers)
    assert response.status_code == 401
    assert fragment in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"
    assert server.counts() == before


def test_a_revoked_token_is_refused(client: TestClient, server: Server, bundles: Bundles) -> None:
    from vla_bench.server import crud

    with server.db.write() as session:
        assert crud.revoke_tokens(session=session, prefix=server.user_token[:12]) == 1
    response = client.post(URL, json=bundles.document("random"), headers=server.user)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]
    assert server.counts()["submissions"] == 0


def test_the_rate_limit_answers_429_with_retry_after_per_token(databases: Any, bundles: Bundles) -> None:
    limited = make_server(databases.fresh(), submit_rate_limit=2, submit_rate_window_s=600)
    try:
        with TestClient(limited.app) as client:
            assert client.post(URL, json=bundles.document("random"), headers=limited.user).status_code == 201
            assert client.post(URL, json=bundles.document("limited"), headers=limited.user).status_code == 422
            before = limited.counts()
            response = client.post(URL, json=bundles.document("zero"), headers=limited.user)
            assert response.status_code == 429
            assert "at most 2 submissions per 600 s" in response.json()["detail"]
            assert 0 < int(response.headers["retry-after"]) <= 600
            assert limited.counts() == before
            # another token has its own budget
            assert client.post(URL, json=bundles.document("zero"), headers=limited.admin).status_code == 201
    finally:
        limited.db.dispose()


# --- admin --------------------------------------------------------------------------------------------------
def _board_ids(client: TestClient) -> list[int]:
    return [e["id"] for e in client.get("/api/v1/leaderboards/mujoco/hopper@v1").json()["data"]]


def test_only_an_admin_may_moderate(client: TestClient, server: Server, bundles: Bundles) -> None:
    submission_id = client.post(URL, json=bundles.document("random"), headers=server.user).json()["id"]
    assert client.patch(f"{URL}/{submission_id}", json={"hidden": True}, headers=server.user).status_code == 403
    assert client.delete(f"{URL}/{submission_id}", headers=server.user).status_code == 403
    assert client.delete(f"{URL}/{submission_id}").status_code == 401
    assert _board_ids(client) == [submission_id]


def test_an_admin_hides_rejects_publishes_and_deletes(client: TestClient, server: Server, bundles: Bundles) -> None:
    empty = server.counts()
    a = client.post(URL, json=bundles.document("random"), headers=server.user).json()["id"]
    b = client.post(URL, json=bundles.document("zero"), headers=server.user).json()["id"]
    assert sorted(_board_ids(client)) == sorted([a, b])

    hidden = client.patch(f"{URL}/{a}", json={"hidden": True}, headers=server.admin)
    assert hidden.status_code == 200 and hidden.json()["hidden"] is True
    assert _board_ids(client) == [b]
    assert client.get(f"{URL}/{a}").status_code == 404
    assert client.get(f"{URL}/{a}", headers=server.admin).status_code == 200
    client.patch(f"{URL}/{a}", json={"hidden": False}, headers=server.admin)

    no_reason = client.patch(f"{URL}/{b}", json={"status": "rejected"}, headers=server.admin)
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["detail"]
    rejected = client.patch(f"{URL}/{b}", json={"status": "rejected", "reason": "agent trained on test seeds"},
                            headers=server.admin).json()
    assert rejected["status"] == "rejected" and rejected["reason"] == "agent trained on test seeds"
    assert _board_ids(client) == [a]
    republished = client.patch(f"{URL}/{b}", json={"status": "published", "verified": True}, headers=server.admin)
    assert republished.json()["status"] == "published" and republished.json()["is_verified"] is True
    assert [e["state"] for e in republished.json()["events"]][-3:] == ["rejected", "verified", "published"]

    for submission_id in (a, b):
        assert client.delete(f"{URL}/{submission_id}", headers=server.admin).status_code == 204
    assert client.get(f"{URL}/{a}", headers=server.admin).status_code == 404
    assert client.delete(f"{URL}/{a}", headers=server.admin).status_code == 404
    assert server.counts() == empty  # bundles and events went with them


def test_without_auto_publish_a_submission_waits_for_an_admin(databases: Any, bundles: Bundles) -> None:
    moderated = make_server(databases.fresh(), auto_publish=False)
    try:
        with TestClient(moderated.app) as client:
            created = client.post(URL, json=bundles.document("random"), headers=moderated.user).json()
            assert created["status"] == "validated"
            assert _board_ids(client) == []
            client.patch(f"{URL}/{created['id']}", json={"status": "published"}, headers=moderated.admin)
            assert _board_ids(client) == [created["id"]]
    finally:
        moderated.db.dispose()


def test_an_unknown_submission_is_a_404(client: TestClient) -> None:
    response = client.get(f"{URL}/12345")
    assert response.status_code == 404 and "no submission 12345" in response.json()["detail"]


def test_identical_bundles_sent_at_once_are_stored_once(server: Server, bundles: Bundles) -> None:
    """Over real HTTP, several submitters race with the same bundle: one 201, the others get its id."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from leaderboard_testing import LiveServer

    body = json.dumps(bundles.document("zero"))
    with LiveServer(server.app) as live:
        def post(token: str) -> httpx.Response:
            return httpx.post(f"{live.url}{URL}", content=body, timeout=60,
                              headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

        with ThreadPoolExecutor(max_workers=6) as pool:
            # one owner: another owner's copy is refused (409, tests/server/verification/test_duplicates.py)
            responses = list(pool.map(post, [server.user_token] * 6))
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert server.counts()["submissions"] == 1
