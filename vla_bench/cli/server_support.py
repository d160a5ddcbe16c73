"""What every leaderboard command shares: the ``--db`` option, settings from the environment and the command
line, the server's start-up log on stderr and the database opened at the code's schema.

Imports happen inside the functions so that ``vla-bench --help`` does not load FastAPI, SQLAlchemy or scipy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from vla_bench.spec.errors import UserError

if TYPE_CHECKING:
    from vla_bench.server.core.config import Settings
    from vla_bench.server.core.db import Database

DbOption = Annotated[str | None, typer.Option("--db", help="database URL [default: VLA_BENCH_DATABASE_URL, else a "
                                                            "SQLite file in the user data directory]")]


def load_settings(db: str | None = None, **overrides: Any) -> Settings:  # Any: Settings' fields, validated there
    """Settings from the environment, with command-line values on top; invalid ones as a user error."""
    from pydantic import ValidationError  # noqa: PLC0415

    from vla_bench.server.core.config import Settings  # noqa: PLC0415

    values = {k: v for k, v in overrides.items() if v is not None}
    if db:
        values["database_url"] = db
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise UserError(f"invalid server settings: {problems}") from None


def show_server_log() -> None:
    """Start-up news (migrations applied, reference baselines loaded or refused) on stderr."""
    import logging  # noqa: PLC0415

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("vla_bench.server")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)


def open_database(db: str | None, *, migrate: bool = True) -> Database:
    """The database at the code's schema (migrated, as `serve` would, unless ``migrate`` is off)."""
    from vla_bench.server.core.db import Database  # noqa: PLC0415
    from vla_bench.server.core.migrate import ensure_schema  # noqa: PLC0415

    settings = load_settings(db)
    database = Database(settings.database_url)
    try:
        ensure_schema(database.engine, settings.database_url, migrate=migrate)
    except BaseException:
        database.dispose()
        raise
    return database
