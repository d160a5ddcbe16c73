"""Migrations on SQLite and PostgreSQL: a new database is brought to head, the models match the migrations,
an out-of-date database is refused with the command that fixes it when migration at start is off, and a
database migrated by a newer vla-bench is always refused."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from leaderboard_testing import DatabaseFactory

from vla_bench.server.core.config import Settings
from vla_bench.server.core.db import Database
from vla_bench.server.core.migrate import DatabaseStateError, ensure_schema, head_revision, schema_status
from vla_bench.server.main import create_app
from vla_bench.server.models import Base


def test_a_new_database_is_migrated_to_head_and_matches_the_models(databases: DatabaseFactory) -> None:
    url = databases.empty()
    db = Database(url)
    try:
        assert schema_status(db.engine).current is None
        status = ensure_schema(db.engine, url, migrate=True)
        assert status.current == head_revision() and status.up_to_date
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        assert ensure_schema(db.engine, url, migrate=False).up_to_date  # at head: fine without migrating
    finally:
        db.dispose()


def test_no_migrate_refuses_an_out_of_date_database_with_the_fixing_command(databases: DatabaseFactory) -> None:
    url = databases.empty()
    with pytest.raises(DatabaseStateError, match="Run: vla-bench server migrate --db") as refused:
        create_app(Settings(database_url=url, migrate_on_start=False, results_dir=None))
    assert "--no-migrate" in str(refused.value)
    db = Database(url)
    try:
        assert schema_status(db.engine).current is None  # nothing was created
    finally:
        db.dispose()


@pytest.mark.parametrize("migrate", [True, False])
def test_a_database_from_a_newer_vla_bench_is_always_refused(databases: DatabaseFactory, migrate: bool) -> None:
    url = databases.fresh()
    db = Database(url)
    try:
        with db.engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dfeed9999'"))
        with pytest.raises(DatabaseStateError, match="newer vla-bench"):
            ensure_schema(db.engine, url, migrate=migrate)
        with db.engine.connect() as connection:  # and it was left alone
            assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "f00dfeed9999"
    finally:
        db.dispose()


def test_a_foreign_database_with_tables_is_refused(databases: DatabaseFactory) -> None:
    url = databases.empty()
    db = Database(url)
    try:
        with db.engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE something_else (id INTEGER PRIMARY KEY)"))
        with pytest.raises(DatabaseStateError, match="not a vla-bench leaderboard database"):
            ensure_schema(db.engine, url, migrate=True)
    finally:
        db.dispose()


def test_the_fixing_command_masks_a_password() -> None:
    from vla_bench.server.core.migrate import migrate_command

    command = migrate_command("postgresql+psycopg://board:s3cret@db.example/board")
    assert "s3cret" not in command and "board:***@db.example" in command
