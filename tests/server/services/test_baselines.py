"""Reference baselines from ``results/``: loaded on the first start of an empty database, checked like any
submission, marked as baselines, and not loaded again."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from leaderboard_testing import Bundles, DatabaseFactory, make_server, table_counts

from vla_bench.server.core.config import Settings
from vla_bench.server.main import create_app
from vla_bench.server.services.baselines import bundle_dirs


def _results_dir(tmp_path: Path, bundles: Bundles) -> Path:
    results = tmp_path / "results"
    shutil.copytree(bundles.random, results / "mujoco-hopper" / "random")
    shutil.copytree(bundles.walker, results / "walker-random")
    tampered = results / "tampered"
    shutil.copytree(bundles.zero, tampered)
    summary = json.loads((tampered / "summary.json").read_text())
    summary["scores"]["aggregate"]["mean"]["mean"] += 10
    (tampered / "summary.json").write_text(json.dumps(summary))
    (results / "README.md").write_text("not a bundle")
    return results


def test_bundle_dirs_finds_nested_bundles(tmp_path: Path, bundles: Bundles) -> None:
    results = _results_dir(tmp_path, bundles)
    assert bundle_dirs(results) == sorted([results / "mujoco-hopper" / "random", results / "tampered",
                                           results / "walker-random"])
    assert bundle_dirs(tmp_path / "absent") == []


def test_results_bundles_become_baselines_on_first_start_only(
    databases: DatabaseFactory, tmp_path: Path, bundles: Bundles, caplog: pytest.LogCaptureFixture
) -> None:
    results = _results_dir(tmp_path, bundles)
    url = databases.fresh()
    with caplog.at_level(logging.WARNING, logger="vla_bench.server"):
        server = make_server(url, results_dir=results)
    try:
        assert "tampered not loaded: claimed score differs" in caplog.text
        with TestClient(server.app) as client:
            hopper = client.get("/api/v1/leaderboards/mujoco/hopper@v1").json()["data"]
            walker = client.get("/api/v1/leaderboards/mujoco/walker2d@v1").json()["data"]
            assert [(e["agent"]["name"], e["is_baseline"], e["submitter"]) for e in hopper + walker] == [
                ("baseline:random", True, None), ("baseline:random", True, None)]
            client.delete(f"/api/v1/submissions/{walker[0]['id']}", headers=server.admin)
    finally:
        server.db.dispose()
    # a restart does not bring the deleted baseline back

    again = create_app(Settings(database_url=url, results_dir=results))
    try:
        assert table_counts(again.state.db)["submissions"] == 1
    finally:
        again.state.db.dispose()


REPOSITORY_RESULTS = Path(__file__).resolve().parents[3] / "results"


def test_a_trained_baselines_page_draws_its_training_curves(databases: DatabaseFactory, tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(REPOSITORY_RESULTS / "mujoco-hopper--baseline-bc-hopper-medium", results / "bc")
    shutil.copytree(REPOSITORY_RESULTS / "mujoco-hopper--baseline-random", results / "random")
    (results / "agents" / "bc-hopper-medium").mkdir(parents=True)
    for name in ("manifest.json", "train.csv"):
        shutil.copy(REPOSITORY_RESULTS / "agents" / "bc-hopper-medium" / name, results / "agents" / "bc-hopper-medium")
    server = make_server(databases.fresh(), results_dir=results)
    try:
        with TestClient(server.app) as client:
            board = client.get("/api/v1/leaderboards/mujoco/hopper@v1").json()["data"]
            ids = {e["agent"]["name"]: e["id"] for e in board}
            trained = client.get(f"/submissions/{ids['baseline:bc-hopper-medium']}").text
            assert trained.count('class="curve-line"') == 3  # loss, action_mse, steps_per_s
            assert "The training log committed with this reference agent (40 logged steps)" in " ".join(trained.split())
            assert "No training log submitted." in client.get(f"/submissions/{ids['baseline:random']}").text
    finally:
        server.db.dispose()


@pytest.mark.parametrize("directory", bundle_dirs(REPOSITORY_RESULTS), ids=lambda p: p.name)
def test_every_committed_results_bundle_is_accepted_and_its_agent_loads(directory: Path) -> None:
    from vla_bench.agents.loaders import load_agent
    from vla_bench.server.bundle_io import read_bundle_document
    from vla_bench.server.validation import validate_bundle

    document = read_bundle_document(directory)
    accepted = validate_bundle(document, rel_tol=Settings().score_rel_tol, allow_deprecated=True)
    agent = accepted.summary.agent
    trained = REPOSITORY_RESULTS / "agents" / agent.spec.removeprefix("baseline:") / "train.csv"
    assert (accepted.training_log is not None) == trained.is_file(), "a trained baseline's curve would be missing"
    loaded = load_agent(agent.spec)  # a bundled baseline loads without the trainer's code
    if agent.sha256:
        assert loaded.sha256 == agent.sha256, "the committed model is not the one that produced the bundle"


def test_baselines_loaded_before_training_logs_get_them_at_the_next_start(databases: DatabaseFactory,
                                                                         tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(REPOSITORY_RESULTS / "mujoco-hopper--baseline-bc-hopper-medium", results / "bc")
    url = databases.fresh()
    first = make_server(url, results_dir=results)  # no results/agents yet: loaded without a log
    first.db.dispose()
    (results / "agents" / "bc-hopper-medium").mkdir(parents=True)
    for name in ("manifest.json", "train.csv"):
        shutil.copy(REPOSITORY_RESULTS / "agents" / "bc-hopper-medium" / name, results / "agents" / "bc-hopper-medium")
    for _ in range(2):  # the second start finds nothing missing
        again = create_app(Settings(database_url=url, results_dir=results))
        try:
            counts = table_counts(again.state.db)
            assert counts["submissions"] == 1 and counts["training_logs"] == 1
            with TestClient(again) as client:
                page = client.get("/submissions/1").text
                assert page.count('class="curve-line"') == 3 and "training log added" in page
        finally:
            again.state.db.dispose()
