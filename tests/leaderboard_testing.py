"""Shared test plumbing for the leaderboard server and web tests: real bundles, an ephemeral PostgreSQL
cluster, fresh migrated databases per test, and a running server on a loopback port.

Imported as ``leaderboard_testing`` (pytest puts ``tests/`` on ``sys.path``); the fixtures defined
here are re-exported by ``tests/server/conftest.py`` and ``tests/web/conftest.py``.
"""

from __future__ import annotations

import copy
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

import vla_bench
from vla_bench.server import crud
from vla_bench.server.bundle_io import read_bundle_document
from vla_bench.server.core.config import Settings
from vla_bench.server.core.db import Database
from vla_bench.server.core.migrate import upgrade
from vla_bench.server.main import create_app
from vla_bench.server.models import Base

with warnings.catch_warnings():  # Starlette nags about httpx at import; FastAPI documents TestClient as is
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

__all__ = ["TestClient"]

MARKERS = (
    "postgres: runs against a real PostgreSQL (an ephemeral cluster started with initdb/pg_ctl)",
    "browser: drives Debian's Chromium with Playwright against a running server",
)


def register_markers(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)


# --- real bundles -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bundles:
    """Real results bundles made by the harness for this test session."""

    random: Path  # baseline:random on mujoco/hopper@v1 (official)
    zero: Path  # baseline:zero on mujoco/hopper@v1 (official)
    limited: Path  # baseline:random on mujoco/hopper@v1 with --limit-episodes 5 (unofficial)
    walker: Path  # baseline:random on mujoco/walker2d@v1 (another protocol)

    def document(self, which: str = "random") -> dict[str, Any]:
        """A fresh copy of the POST body for one of the bundles (tests may edit it)."""
        return copy.deepcopy(_document(getattr(self, which)))


_DOCUMENTS: dict[Path, dict[str, Any]] = {}


def _document(directory: Path) -> dict[str, Any]:
    if directory not in _DOCUMENTS:
        _DOCUMENTS[directory] = read_bundle_document(directory)
    return _DOCUMENTS[directory]


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    root = tmp_path_factory.mktemp("bundles")
    runs = {
        "random": ("baseline:random", "mujoco/hopper@v1", None),
        "zero": ("baseline:zero", "mujoco/hopper@v1", None),
        "limited": ("baseline:random", "mujoco/hopper@v1", 5),
        "walker": ("baseline:random", "mujoco/walker2d@v1", None),
    }
    for name, (agent, protocol, limit) in runs.items():
        vla_bench.evaluate(agent, protocol, out=root / name, limit_episodes=limit)
    return Bundles(**{name: root / name for name in runs})


# --- databases ----------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _postgres_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return str(candidates[0]) if candidates else None


def _as_postgres_user(command: list[str]) -> list[str]:
    """initdb refuses to run as root: run the cluster as the ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _ensure_postgres_user() -> None:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
                       check=True, capture_output=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Server URL (no database) of an ephemeral PostgreSQL cluster on a free loopback port."""
    initdb, pg_ctl = _postgres_binary("initdb"), _postgres_binary("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL binaries initdb/pg_ctl not found (install PostgreSQL, e.g. apt-get install "
                    "postgresql, to run the PostgreSQL tests)")
    if os.geteuid() == 0:
        _ensure_postgres_user()
    root = Path(tempfile.mkdtemp(prefix="vlab-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        os.chown(root, postgres.pw_uid, postgres.pw_gid)
    port = free_port()
    subprocess.run(_as_postgres_user([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                                      "--no-sync"]), check=True, capture_output=True)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(_as_postgres_user([pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w",
                                      "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_postgres_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


class DatabaseFactory:
    """Fresh databases: migrated ones are copies of a template migrated once per session. Those made during
    a test are dropped after it (``drop_made``), so disk use stays small however many tests run."""

    def __init__(self, backend: str, make_template: Callable[[], str], clone: Callable[[str], str],
                 new_empty: Callable[[], str], drop: Callable[[str], None]) -> None:
        self.backend = backend
        self._template: str | None = None
        self._make_template = make_template
        self._clone = clone
        self._new_empty = new_empty
        self._drop = drop
        self._made: list[str] = []

    def fresh(self) -> str:
        """A new database at the code's head revision."""
        if self._template is None:
            self._template = self._make_template()
        url = self._clone(self._template)
        self._made.append(url)
        return url

    def empty(self) -> str:
        """A new database without any tables (for migration tests)."""
        url = self._new_empty()
        self._made.append(url)
        return url

    def drop_made(self) -> None:
        while self._made:
            self._drop(self._made.pop())


def _migrated(url: str) -> str:
    db = Database(url)
    try:
        upgrade(db.engine)
    finally:
        db.dispose()
    return url


def sqlite_factory(root: Path) -> DatabaseFactory:
    counter = iter(range(1_000_000))

    def empty() -> str:
        return f"sqlite:///{root / f'db{next(counter)}.sqlite3'}"

    def clone(template: str) -> str:
        target = root / f"db{next(counter)}.sqlite3"
        shutil.copyfile(template.removeprefix("sqlite:///"), target)
        return f"sqlite:///{target}"

    def drop(url: str) -> None:
        path = Path(url.removeprefix("sqlite:///"))
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)

    return DatabaseFactory("sqlite", lambda: _migrated(empty()), clone, empty, drop)


def postgres_factory(server_url: str) -> DatabaseFactory:
    counter = iter(range(1_000_000))
    admin = sa.create_engine(f"{server_url}/postgres", isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    def create(name: str, template: str | None = None) -> str:
        with admin.connect() as connection:
            suffix = f" TEMPLATE {template}" if template else ""
            connection.exec_driver_sql(f"CREATE DATABASE {name}{suffix}")
        return f"{server_url}/{name}"

    def empty() -> str:
        return create(f"vlab_{next(counter)}")

    def clone(template_url: str) -> str:
        return create(f"vlab_{next(counter)}", template_url.rsplit("/", 1)[1])

    def drop(url: str) -> None:
        with admin.connect() as connection:  # FORCE: a test that failed may have left a connection open
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    return DatabaseFactory("postgresql", lambda: _migrated(create("vlab_template")), clone, empty, drop)


def table_counts(db: Database) -> dict[str, int]:
    """Rows in every table of the schema: the "nothing was written" check of refusal tests. The rate limiter's
    attempts are left out: a refused submission counts against the quota on purpose."""
    with db.engine.connect() as connection:
        return {name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for name, table in Base.metadata.tables.items() if name != "rate_limit_hits"}


# --- an app and its users -----------------------------------------------------------------------------------
@dataclass
class Server:
    """An app on a fresh database with an admin and a submitter token."""

    app: FastAPI
    settings: Settings
    admin_token: str
    user_token: str

    @property
    def db(self) -> Database:
        db: Database = self.app.state.db
        return db

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    @property
    def user(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.user_token}"}

    def counts(self) -> dict[str, int]:
        return table_counts(self.db)


def make_server(database_url: str, **settings: Any) -> Server:
    settings.setdefault("results_dir", None)
    config = Settings(database_url=database_url, **settings)
    app = create_app(config)
    db: Database = app.state.db
    with db.write() as session:
        admin = crud.create_user(session=session, name="admin", role="admin")
        alice = crud.create_user(session=session, name="alice")
        _, admin_token = crud.create_token(session=session, user=admin, secret_key=config.secret_key)
        _, user_token = crud.create_token(session=session, user=alice, secret_key=config.secret_key)
    return Server(app=app, settings=config, admin_token=admin_token, user_token=user_token)


# --- episode videos ------------------------------------------------------------------------------------------
def mp4(payload: bytes = b"", brand: bytes = b"isom") -> bytes:
    """The start of an MP4 file: an ftyp box (size, 'ftyp', major brand, minor version, compatible brands)."""
    ftyp = (24).to_bytes(4, "big") + b"ftyp" + brand + b"\0\0\2\0" + b"isomiso2"
    return ftyp + (8 + len(payload)).to_bytes(4, "big") + b"mdat" + payload


# --- a running server (real HTTP) ---------------------------------------------------------------------------
class LiveServer:
    """uvicorn serving an app on a loopback port, in a thread of this process."""

    def __init__(self, app: FastAPI) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
