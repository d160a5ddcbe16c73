"""Copies: another user's outcomes (renamed, or with only side fields edited) are refused naming the original;
the same owner may resubmit under another name."""

from __future__ import annotations

import importlib.util
import json

from leaderboard_testing import Server, TestClient
from verification_testing import ROOT, SUBMISSIONS, ppo_document

from vla_bench.server.services.baselines import load_baselines
from vla_bench.server.verification.duplicates import returns_sha256
from vla_bench.spec import EpisodeRecord


def test_a_renamed_copy_of_another_users_bundle_is_refused_naming_the_original(
        vclient: TestClient, vserver: Server) -> None:
    first = vclient.post(SUBMISSIONS, json=ppo_document(), headers=vserver.admin)
    assert first.status_code == 201
    copy = ppo_document()
    copy["summary"]["agent"].update(name="my-great-policy", spec="my_policies.hopper:make", kind="python",
                                    sha256=None)
    response = vclient.post(SUBMISSIONS, json=copy, headers=vserver.user)
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert f"submission {first.json()['id']}" in detail and "'admin'" in detail and "same episode outcomes" in detail
    assert vserver.counts()["submissions"] == 1


def test_a_copy_with_only_side_fields_edited_is_caught_by_its_returns(vclient: TestClient, vserver: Server) -> None:
    first = vclient.post(SUBMISSIONS, json=ppo_document(), headers=vserver.admin).json()["id"]
    copy = ppo_document()
    copy["summary"]["agent"]["name"] = "renamed"
    for line in copy["episodes"]:
        line["action_smoothness"] = (line["action_smoothness"] or 0) * 1.01
        line["clipped_steps"] += 1
    from verification_testing import rescore

    response = vclient.post(SUBMISSIONS, json=rescore(copy), headers=vserver.user)
    assert response.status_code == 409 and "same return in every episode" in response.json()["detail"]
    assert f"submission {first}" in response.json()["detail"]


def test_the_same_owner_may_resubmit_under_another_name(vclient: TestClient, vserver: Server) -> None:
    assert vclient.post(SUBMISSIONS, json=ppo_document(), headers=vserver.user).status_code == 201
    renamed = ppo_document()
    renamed["summary"]["agent"]["name"] = "ppo-hopper-v2"
    assert vclient.post(SUBMISSIONS, json=renamed, headers=vserver.user).status_code == 201


def test_a_copy_of_a_reference_baseline_is_refused(vclient: TestClient, vserver: Server) -> None:
    outcomes = load_baselines(vserver.db, ROOT / "results" / "mujoco-hopper--baseline-ppo-hopper", rel_tol=1e-6)
    assert outcomes[0].created
    response = vclient.post(SUBMISSIONS, json=ppo_document(), headers=vserver.user)
    assert response.status_code == 409 and "reference baselines" in response.json()["detail"]


def test_the_migration_backfills_the_same_returns_hash_as_the_server_computes() -> None:
    path = ROOT / "vla_bench" / "server" / "migrations" / "versions" / "0003_verification.py"
    spec = importlib.util.spec_from_file_location("migration_0003", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    document = ppo_document()
    lines = "".join(json.dumps(line) + "\n" for line in reversed(document["episodes"]))
    records = [EpisodeRecord.from_json(line) for line in document["episodes"]]
    assert module._returns_sha256(lines) == returns_sha256(records)


def test_two_owners_racing_with_one_result_store_it_once(vserver: Server) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from leaderboard_testing import LiveServer

    bodies = []
    for name, headers in (("theirs", vserver.admin), ("mine", vserver.user)):
        document = ppo_document()
        document["summary"]["agent"]["name"] = name
        bodies.append((json.dumps(document), headers))
    with LiveServer(vserver.app) as live, ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(lambda b: httpx.post(live.url + SUBMISSIONS, content=b[0], timeout=120,
                                                       headers={**b[1], "Content-Type": "application/json"}), bodies))
    assert sorted(r.status_code for r in responses) == [201, 409]
    assert vserver.counts()["submissions"] == 1
