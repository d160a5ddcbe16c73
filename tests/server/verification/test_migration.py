"""Migration 0003 on SQLite and PostgreSQL: down and up again loses no submission and backfills the returns
hash the server computes."""

from __future__ import annotations

import datetime as dt

from alembic import command
from leaderboard_testing import DatabaseFactory
from sqlalchemy import func, select
from verification_testing import ppo_document

from vla_bench.server.core.db import Database
from vla_bench.server.core.migrate import alembic_config
from vla_bench.server.models import Submission, SubmissionBundle
from vla_bench.server.services.submissions import store_bundle
from vla_bench.server.validation import validate_bundle


def _migrate(db: Database, direction: str, revision: str) -> None:
    config = alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


def test_down_and_up_again_keeps_every_submission_and_backfills_returns(databases: DatabaseFactory) -> None:
    db = Database(databases.fresh())
    try:
        stored = store_bundle(db, validate_bundle(ppo_document()), user_id=None, received_at=dt.datetime.now(dt.UTC),
                              publish=True, is_baseline=True)
        with db.session() as session:
            expected = session.scalar(select(Submission.returns_sha256))
        assert expected
        _migrate(db, "downgrade", "0002")
        _migrate(db, "upgrade", "head")
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(SubmissionBundle)) == 1
            submission = session.get(Submission, stored.submission_id)
            assert submission is not None and submission.returns_sha256 == expected
            assert submission.verification == "unverified"
    finally:
        db.dispose()
