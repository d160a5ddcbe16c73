"""Migration 0007 on SQLite and PostgreSQL: down to 0006 drops the training-log and video tables and keeps every
submission; up again re-creates them empty, and the server works on the result."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from leaderboard_testing import Bundles, DatabaseFactory, make_server, mp4

from vla_bench.server.core.migrate import alembic_config


def test_down_and_up_again_keeps_submissions(databases: DatabaseFactory, bundles: Bundles, tmp_path: Path) -> None:
    server = make_server(databases.fresh(), artifacts_dir=tmp_path / "artifacts")
    try:
        with TestClient(server.app) as client:
            document = {**bundles.document("random"), "training_log": {"csv": "step,loss\n1,0.5\n"}}
            submission = client.post("/api/v1/submissions", json=document, headers=server.user).json()["id"]
            assert client.put(f"/api/v1/submissions/{submission}/videos/a.mp4", content=mp4(),
                              headers={**server.user, "Content-Type": "video/mp4"}).status_code == 201
            config = alembic_config()
            for direction, revision in (("downgrade", "0006"), ("upgrade", "head")):
                with server.db.engine.begin() as connection:
                    config.attributes["connection"] = connection
                    getattr(command, direction)(config, revision)
                if direction == "downgrade":
                    tables = sa.inspect(server.db.engine).get_table_names()
                    assert "training_logs" not in tables and "submission_videos" not in tables
            counts = server.counts()
            assert counts["submissions"] == 1 and counts["training_logs"] == 0 and counts["submission_videos"] == 0
            page = client.get(f"/submissions/{submission}").text
            assert "No training log submitted." in page
    finally:
        server.db.dispose()
