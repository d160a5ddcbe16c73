"""Migration 0006 on SQLite and PostgreSQL: down and up again backfills each submission's safety means with the
values ingest stores, and its written-out computation agrees with ``scoring.safety_summary.entry_safety``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import json
import random

from alembic import command
from leaderboard_testing import DatabaseFactory
from sqlalchemy import select
from web_testing import synthetic_bundle

from vla_bench import protocols
from vla_bench.scoring.safety_summary import COLUMNS, entry_safety
from vla_bench.server import crud
from vla_bench.server.core.db import Database
from vla_bench.server.core.migrate import alembic_config
from vla_bench.server.models import Submission

migration = importlib.import_module("vla_bench.server.migrations.versions.0006_board_safety")


def _migrate(db: Database, direction: str, revision: str) -> None:
    config = alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


def _rows(seed: int, n: int) -> list[dict[str, float] | None]:
    rng = random.Random(seed)
    return [None if rng.random() < 0.2 else {c: rng.uniform(0.0, 7.0) for c in COLUMNS if rng.random() < 0.9}
            for _ in range(n)]


def test_the_migration_computes_what_ingest_stores() -> None:
    for seed in range(20):
        rows = _rows(seed, 1 + seed * 7)
        jsonl = "".join(json.dumps({"task": "t", "episode_index": i, **({"safety": row} if row else {})}) + "\n"
                        for i, row in enumerate(rows))
        assert migration.entry_safety(jsonl) == entry_safety(rows)
    assert migration.entry_safety('{"task": "t"}\n') is None and migration.COLUMNS == COLUMNS


def test_down_and_up_again_backfills_the_safety_means(databases: DatabaseFactory) -> None:
    protocol = protocols.get_protocol("pandapickcube/state@v1")
    plain = synthetic_bundle(protocol, "plain", lambda task, i: 0.0)
    rows = _rows(3, len(plain.records))
    records = [dataclasses.replace(r, safety=row) for r, row in zip(plain.records, rows, strict=True)]
    safe = dataclasses.replace(synthetic_bundle(protocol, "safe", lambda task, i: 1.0), records=records,
                               episodes=[r.to_json() for r in records])
    db = Database(databases.fresh())
    try:
        with db.write() as session:
            ids = [crud.add_submission(session=session, accepted=a, user=None, received_at=dt.datetime.now(dt.UTC)).id
                   for a in (safe, plain)]
        with db.session() as session:
            stored = {i: s for i, s in session.execute(select(Submission.id, Submission.safety))}
        assert stored == {ids[0]: entry_safety(rows), ids[1]: None}
        _migrate(db, "downgrade", "0005")
        _migrate(db, "upgrade", "head")
        with db.session() as session:
            assert {i: s for i, s in session.execute(select(Submission.id, Submission.safety))} == stored
            assert crud.board_records_safety(session=session, protocol_id=protocol.id)
            assert not crud.board_records_safety(session=session, protocol_id="mujoco/hopper@v1")
    finally:
        db.dispose()
