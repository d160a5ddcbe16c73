"""The bundled baselines are verified like any submission, from their committed ONNX exports."""

from __future__ import annotations

import pytest
from leaderboard_testing import DatabaseFactory, Server
from verification_testing import ROOT, verification_server

from vla_bench.server.services.baselines import load_baselines
from vla_bench.server.verification.service import queue_baselines
from vla_bench.server.verification.worker import WorkerOptions, run_worker

AGENTS = ROOT / "results" / "agents"


def _with_baselines(server: Server) -> None:
    for name in ("mujoco-hopper--baseline-ppo-hopper", "mujoco-hopper--baseline-random"):
        assert load_baselines(server.db, ROOT / "results" / name, rel_tol=1e-6)[0].created


def test_baselines_with_a_committed_onnx_model_are_queued_the_others_skipped(vserver: Server) -> None:
    _with_baselines(vserver)
    report = dict(queue_baselines(vserver.db, vserver.settings, AGENTS))
    assert sorted(report.values())[0].startswith("queued: 22 episodes")
    assert any(what.startswith("skipped: baseline:random") for what in report.values())
    assert all(w.startswith("already") for w in dict(queue_baselines(vserver.db, vserver.settings, AGENTS)).values()
               if "random" not in w)


@pytest.mark.slow
def test_the_ppo_hopper_baseline_is_verified_by_the_worker(sqlite_databases: DatabaseFactory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = verification_server(sqlite_databases.fresh(), tmp_path / "artifacts",
                                 verify_protocols={"mujoco/hopper@v1": {"max_episodes": 3}})
    try:
        _with_baselines(server)
        queue_baselines(server.db, server.settings, AGENTS)
        assert run_worker(server.settings, WorkerOptions(once=True)) == 1
        with server.db.session() as session:
            from sqlalchemy import select

            from vla_bench.server.models import Submission

            states = dict(session.execute(select(Submission.agent_spec, Submission.verification)).all())
        assert states == {"baseline:ppo-hopper": "verified", "baseline:random": "unverified"}
    finally:
        server.db.dispose()
