"""Artifact uploads over HTTP: refused with the reason and nothing stored (no file, no row, no job) when the
sha256 is not the bundle's agent sha256, the file is too large, or it is not an ONNX model; otherwise stored
once by content hash beside the database and a verification is queued."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import pytest
from leaderboard_testing import Server, TestClient
from verification_testing import SUBMISSIONS, ppo_document, ppo_model, with_agent_sha

from vla_bench.server.verification.artifacts import ArtifactRejectedError, check_artifact


def _submit(client: TestClient, server: Server, document: dict | None = None) -> int:
    response = client.post(SUBMISSIONS, json=document or ppo_document(), headers=server.user)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _nothing_stored(server: Server, artifacts: Path) -> None:
    counts = server.counts()
    assert counts["policy_artifacts"] == 0 and counts["verification_jobs"] == 0
    assert not artifacts.exists() or not [p for p in artifacts.rglob("*") if p.is_file()]


def test_the_model_that_produced_the_bundle_is_stored_by_hash_and_queued(vclient: TestClient, vserver: Server,
                                                                        artifacts: Path) -> None:
    submission = _submit(vclient, vserver)
    model = ppo_model()
    response = vclient.put(f"{SUBMISSIONS}/{submission}/artifact", content=model, headers=vserver.user)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["verification"] == "verifying" and body["n_episodes"] == 22  # 10% of 50 caught with >= 95%
    sha = hashlib.sha256(model).hexdigest()
    assert (artifacts / sha[:2] / f"{sha}.onnx").read_bytes() == model
    counts = vserver.counts()
    assert counts["policy_artifacts"] == 1 and counts["verification_jobs"] == 1
    state = vclient.get(f"{SUBMISSIONS}/{submission}/verification").json()
    assert state["verification"] == "verifying" and state["job"]["sample"] is None  # secret until re-run
    assert vclient.get(f"{SUBMISSIONS}/{submission}").json()["verification"] == "verifying"
    # the owner cannot re-draw the sample; an admin can re-queue (a new attempt, a fresh sample)
    again = vclient.put(f"{SUBMISSIONS}/{submission}/artifact", content=model, headers=vserver.user)
    assert again.status_code == 409 and "re-queue" in again.json()["detail"]
    assert vclient.post(f"{SUBMISSIONS}/{submission}/verification", headers=vserver.user).status_code == 403
    requeued = vclient.post(f"{SUBMISSIONS}/{submission}/verification", headers=vserver.admin)
    assert requeued.status_code == 202 and requeued.json()["attempt"] == 2
    assert vserver.counts()["policy_artifacts"] == 1


def test_an_artifact_with_another_sha256_is_refused_and_nothing_stored(vclient: TestClient, vserver: Server,
                                                                      artifacts: Path) -> None:
    submission = _submit(vclient, vserver)
    other = ppo_model() + b"\x00"
    response = vclient.put(f"{SUBMISSIONS}/{submission}/artifact", content=other, headers=vserver.user)
    assert response.status_code == 422
    assert "sha256" in response.json()["detail"] and hashlib.sha256(other).hexdigest() in response.json()["detail"]
    _nothing_stored(vserver, artifacts)
    assert vclient.get(f"{SUBMISSIONS}/{submission}").json()["verification"] == "unverified"


def test_an_oversized_artifact_is_refused_and_nothing_stored(databases, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    from verification_testing import verification_server

    server = verification_server(databases.fresh(), artifacts, max_artifact_bytes=10_000)
    try:
        with TestClient(server.app) as client:
            submission = _submit(client, server)
            response = client.put(f"{SUBMISSIONS}/{submission}/artifact", content=ppo_model(), headers=server.user)
            assert response.status_code == 413 and "10000 bytes" in response.json()["detail"]
            _nothing_stored(server, artifacts)
    finally:
        server.db.dispose()


@pytest.mark.parametrize(("payload", "said"), [
    (pickle.dumps({"weights": [1.0, 2.0]}), "pickle"),
    (b"PK\x03\x04" + b"\x00" * 64, "zip archive"),
    (b"import os\nos.system('id')\n", "not an ONNX model"),
])
def test_a_file_that_is_not_onnx_is_refused_even_with_the_matching_sha256(
        vclient: TestClient, vserver: Server, artifacts: Path, payload: bytes, said: str) -> None:
    submission = _submit(vclient, vserver, with_agent_sha(ppo_document(), payload))
    response = vclient.put(f"{SUBMISSIONS}/{submission}/artifact", content=payload, headers=vserver.user)
    assert response.status_code == 422 and said in response.json()["detail"], response.text
    _nothing_stored(vserver, artifacts)


def test_only_the_owner_or_an_admin_attaches_a_policy(vclient: TestClient, vserver: Server) -> None:
    response = vclient.post(SUBMISSIONS, json=ppo_document(), headers=vserver.admin)
    submission = response.json()["id"]
    refused = vclient.put(f"{SUBMISSIONS}/{submission}/artifact", content=ppo_model(), headers=vserver.user)
    assert refused.status_code == 403
    assert vclient.put(f"{SUBMISSIONS}/999/artifact", content=ppo_model(), headers=vserver.user).status_code == 404
    for url in ("http://x", "ws://[::1", "ws://host:99999", "ws://"):
        bad = vclient.put(f"{SUBMISSIONS}/{submission}/endpoint", json={"url": url}, headers=vserver.admin)
        assert bad.status_code == 422 and "ws://" in bad.json()["detail"]


def test_an_onnx_model_with_external_weights_or_custom_ops_is_refused() -> None:
    import onnx
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    good = model.SerializeToString()
    assert check_artifact(good, expected_sha256=hashlib.sha256(good).hexdigest(), max_bytes=10**6).format == "onnx"
    external = onnx.ModelProto()
    external.CopyFrom(model)
    tensor = external.graph.initializer[0]
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../../etc/passwd")
    custom = onnx.ModelProto()
    custom.CopyFrom(model)
    custom.opset_import.add(domain="my.custom.ops", version=1)
    for bad, said in ((external.SerializeToString(), "external"), (custom.SerializeToString(), "custom")):
        with pytest.raises(ArtifactRejectedError, match=said):
            check_artifact(bad, expected_sha256=hashlib.sha256(bad).hexdigest(), max_bytes=10**6)
