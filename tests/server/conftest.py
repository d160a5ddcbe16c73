"""Fixtures of the leaderboard server tests: real bundles, and a fresh migrated database per test on SQLite
and on an ephemeral PostgreSQL cluster (tests using ``server``/``client`` run once per backend)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from leaderboard_testing import (
    DatabaseFactory,
    Server,
    TestClient,
    bundles,
    make_server,
    postgres_factory,
    postgres_url,
    register_markers,
    sqlite_factory,
)

__all__ = ["bundles", "postgres_url"]  # session fixtures shared with tests/web


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory: pytest.TempPathFactory) -> DatabaseFactory:
    return sqlite_factory(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session")
def postgres_databases(postgres_url: str) -> DatabaseFactory:
    return postgres_factory(postgres_url)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the PostgreSQL runs (`-m postgres` / `-m "not postgres"`). Done here, not with pytest.param(marks=...):
    a conftest in a subdirectory is imported before its markers are registered when the whole suite runs."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("databases") == "postgres":
            item.add_marker("postgres")


@pytest.fixture(params=["sqlite", "postgres"])
def databases(request: pytest.FixtureRequest) -> Iterator[DatabaseFactory]:
    factory: DatabaseFactory = request.getfixturevalue(f"{request.param}_databases")
    yield factory
    factory.drop_made()


@pytest.fixture
def server(databases: DatabaseFactory) -> Iterator[Server]:
    made = make_server(databases.fresh())
    yield made
    made.db.dispose()


@pytest.fixture
def client(server: Server) -> Iterator[TestClient]:
    with TestClient(server.app) as test_client:
        yield test_client
