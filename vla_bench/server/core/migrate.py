"""Programmatic Alembic: where a database stands against the code's migrations, and upgrading it.

Three outcomes at start-up: the database is at the code's head (go); it is behind (upgrade, or refuse with
the command that upgrades it when migration at start is switched off); or it carries a revision this code
does not know, i.e. it was migrated by a newer vla-bench (always refuse: the old code would misread it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlalchemy.engine import make_url

from vla_bench.spec.errors import UserError

SCRIPT_LOCATION = "vla_bench.server:migrations"
log = logging.getLogger("vla_bench.server")


class DatabaseStateError(UserError):
    """The database cannot be used by this version of the code as it stands."""


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None  # None: no alembic_version row (a new, empty database)
    head: str
    known: bool  # the current revision exists in this code's migrations
    has_tables: bool

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def alembic_config() -> Config:
    ini = resources.files("vla_bench.server.migrations").joinpath("alembic.ini")
    config = Config(str(ini))
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations directory has no revisions"
    return head


def schema_status(engine: Engine) -> SchemaStatus:
    script = ScriptDirectory.from_config(alembic_config())
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        tables = set(inspect(connection).get_table_names()) - {"alembic_version"}
    known = current is None or current in {rev.revision for rev in script.walk_revisions()}
    head = script.get_current_head()
    assert head is not None
    return SchemaStatus(current=current, head=head, known=known, has_tables=bool(tables))


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def migrate_command(database_url: str) -> str:
    """The command line that brings ``database_url`` to the code's head (a password is masked, never echoed)."""
    shown = make_url(database_url).render_as_string(hide_password=True)
    return f"vla-bench server migrate --db '{shown}'"


def ensure_schema(engine: Engine, database_url: str, *, migrate: bool) -> SchemaStatus:
    """Bring the database to head (``migrate``) or check that it is there; refuse what cannot be used."""
    status = schema_status(engine)
    if not status.known:
        raise DatabaseStateError(
            f"the database is at migration {status.current!r}, which this vla-bench does not know (its newest is "
            f"{status.head!r}): it was migrated by a newer vla-bench. Upgrade vla-bench to serve it."
        )
    if status.current is None and status.has_tables:
        raise DatabaseStateError(
            "the database has tables but no alembic_version: it is not a vla-bench leaderboard database "
            "(or was created without migrations). Point --db / VLA_BENCH_DATABASE_URL at an empty database."
        )
    if status.up_to_date:
        return status
    if not migrate:
        where = "is empty" if status.current is None else f"is at migration {status.current!r}"
        raise DatabaseStateError(
            f"the database {where}, this vla-bench needs {status.head!r}, and migration at start is off "
            f"(--no-migrate). Run: {migrate_command(database_url)}"
        )
    upgrade(engine)
    migrated = schema_status(engine)
    log.info("database migrated from %s to %s", status.current or "empty", migrated.current)
    return migrated
