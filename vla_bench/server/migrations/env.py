"""Alembic environment: runs on the connection handed over by ``core.migrate`` or, when alembic is run as a
command, on ``VLA_BENCH_DATABASE_URL``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from vla_bench.server.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from vla_bench.server.core.config import Settings  # noqa: PLC0415 - only for the alembic command
    from vla_bench.server.core.db import make_engine  # noqa: PLC0415

    engine = make_engine(Settings().database_url)
    try:
        with engine.connect() as new_connection:
            _run(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run them against a database")
run_migrations_online()
