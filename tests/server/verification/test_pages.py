"""The web pages: every entry is marked unverified / verifying / verified / failed, a failed one leaves the
default ranking (its page says why, with the evidence), and the verified-only view lists only verified ones."""

from __future__ import annotations

import html

from leaderboard_testing import Server, TestClient
from verification_testing import SUBMISSIONS, ppo_document, ppo_model

from vla_bench.server import crud
from vla_bench.server.verification import jobs
from vla_bench.server.verification.compare import compare

BOARD = "/leaderboard/mujoco/hopper@v1"


def _with_outcome(client: TestClient, server: Server, name: str, altered: bool) -> int:
    document = ppo_document()
    document["summary"]["agent"]["name"] = name
    submission = int(client.post(SUBMISSIONS, json=document, headers=server.user).json()["id"])
    uploaded = client.put(f"{SUBMISSIONS}/{submission}/artifact", content=ppo_model(), headers=server.user)
    assert uploaded.status_code == 202
    claim = jobs.claim(server.db, "page-test", 60)
    assert claim is not None
    with server.db.session() as session:
        claimed = {r.key: r for r in crud.episode_records(session=session, submission_id=submission)}
    rerun = [claimed[("hopper", i)] for i in range(3)]
    if altered:  # the verifier's re-run differs from the claim in one episode
        rerun[1] = type(rerun[1]).from_json({**rerun[1].to_json(), "total_return": rerun[1].total_return - 500})
    verdict = compare(claimed, rerun, claimed_provenance={}, verifier_provenance={})
    evidence = {"rerun": [list(r.key) for r in rerun], "episodes": verdict.episodes,
                "max_abs_return_diff": verdict.max_abs_return_diff, "worker": {"host": "test-host", "provenance": {}},
                "seconds": 1.0}
    assert jobs.finish(server.db, claim, verdict.outcome, verdict.message, evidence)
    return submission


def test_the_board_marks_entries_and_hides_failed_ones(vclient: TestClient, vserver: Server) -> None:
    verified = _with_outcome(vclient, vserver, "honest", altered=False)
    failed = _with_outcome(vclient, vserver, "fabricated", altered=True)
    plain = vclient.post(SUBMISSIONS, json={**ppo_document(), "summary": {
        **ppo_document()["summary"], "agent": {**ppo_document()["summary"]["agent"], "name": "no-policy"}}},
        headers=vserver.user).json()["id"]
    board = vclient.get(BOARD).text
    assert f"/submissions/{verified}\"" in board and f"/submissions/{plain}\"" in board
    assert f"/submissions/{failed}\"" not in board
    assert ">verified</span>" in board and ">unverified</span>" in board
    only = vclient.get(BOARD + "?verified=1").text
    assert f"/submissions/{verified}\"" in only and f"/submissions/{plain}\"" not in only
    page = html.unescape(vclient.get(f"/submissions/{failed}").text)
    assert "Failed verification" in page and "'hopper' #1" in page and 'class="mismatch"' in page
    assert "test-host" in page
    honest = vclient.get(f"/submissions/{verified}").text
    assert "all 3 re-run episodes match" in honest
    assert "no policy was submitted" in vclient.get(f"/submissions/{plain}").text
