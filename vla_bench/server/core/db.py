"""Engine and session factories for SQLite and PostgreSQL.

SQLite needs care to take concurrent writers: WAL lets readers run beside one writer, and a write
transaction is opened with ``BEGIN IMMEDIATE`` so it queues on the busy timeout at its start instead of
failing with "database is locked" when a read lock cannot be upgraded half-way through.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_S = 30.0
WRITE_OPTION = "vla_bench_write"


DEFAULT_POOL_SIZE = 8
DEFAULT_POOL_TIMEOUT_S = 5.0


def make_engine(database_url: str, *, pool_size: int = DEFAULT_POOL_SIZE,
                pool_timeout_s: float = DEFAULT_POOL_TIMEOUT_S) -> Engine:
    """A fixed-size pool (no overflow): the server admits at most as many requests as it has connections, so
    the pool is never the queue; its short timeout is a safety net that the app answers with 503."""
    url = make_url(database_url)
    pool = {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": pool_timeout_s}
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **pool)
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    else:
        pool = {}  # an in-memory database lives in one connection (SingletonThreadPool)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
                           **pool)
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """The engine plus a session factory for reads and one for write transactions."""

    def __init__(self, database_url: str, *, pool_size: int = DEFAULT_POOL_SIZE,
                 pool_timeout_s: float = DEFAULT_POOL_TIMEOUT_S) -> None:
        self.url = database_url
        self.engine = make_engine(database_url, pool_size=pool_size, pool_timeout_s=pool_timeout_s)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self._read()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._write() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
