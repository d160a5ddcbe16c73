"""A chain protocol's results are accepted by the leaderboard, which recomputes them and shows the >= i rates
and the average length. The leaderboard takes official runs only, so the run is a complete one of a small
version of kitchen/chain5@v1 (3 chains, 10 steps per subtask) that the server is made to know under its id."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from leaderboard_testing import TestClient, make_server

import vla_bench
import vla_bench.server.validation
from vla_bench import protocols
from vla_bench.benchmarks.chain import chains_digest, seeded_distinct_chains
from vla_bench.server.bundle_io import read_bundle_document
from vla_bench.spec import ChainSpec, Protocol

pytestmark = pytest.mark.filterwarnings("ignore:.*share an object:UserWarning")
PROTOCOL_ID = "kitchen/chain5@v1"


def small_kitchen_chains() -> Protocol:
    data = json.loads(protocols.get_protocol(PROTOCOL_ID).canonical_json())
    chain = {**data["chain"], "n_chains": 3, "steps_per_subtask": 10}
    chain["chains_sha256"] = chains_digest(seeded_distinct_chains(ChainSpec.model_validate(chain)))
    return Protocol.model_validate({**data, "chain": chain, "episodes_per_task": 3, "max_steps": 50})


def test_a_chain_bundle_is_accepted_recomputed_and_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = small_kitchen_chains()
    original: Callable[..., Protocol] = protocols.get_protocol

    def known(protocol_id: str, **kwargs: Any) -> Protocol:
        return small if protocol_id == PROTOCOL_ID else original(protocol_id, **kwargs)

    monkeypatch.setattr(protocols, "get_protocol", known)
    monkeypatch.setattr(vla_bench.server.validation, "get_protocol", known)
    bundle = tmp_path / "kitchen-zero"
    vla_bench.evaluate("baseline:zero", small, out=bundle)
    server = make_server(f"sqlite:///{tmp_path / 'board.sqlite3'}")
    try:
        with TestClient(server.app) as client:
            response = client.post("/api/v1/submissions", json=read_bundle_document(bundle), headers=server.user)
            assert response.status_code == 201, response.text
            submission_id = response.json()["id"]
            detail = client.get(f"/api/v1/submissions/{submission_id}").json()
            chain = detail["scores"]["tasks"]["chains"]["chain"]
            assert [rate["successes"] for rate in chain["success_rates"]] == [0] * 5
            assert detail["scores"]["aggregate"]["metric"] == "average_length"
            html = client.get(f"/submissions/{submission_id}").text
            assert "average length" in html.lower() and html.count("&ge; ") == 5
            board = client.get(f"/leaderboard/{PROTOCOL_ID}")
            assert board.status_code == 200 and "average length" in board.text.lower()
    finally:
        server.db.dispose()
