"""A verification-enabled server per test, on SQLite and on PostgreSQL (the ``databases`` fixture)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from leaderboard_testing import DatabaseFactory, Server, TestClient
from verification_testing import verification_server


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def vserver(databases: DatabaseFactory, artifacts: Path) -> Iterator[Server]:
    made = verification_server(databases.fresh(), artifacts)
    yield made
    made.db.dispose()


@pytest.fixture
def vclient(vserver: Server) -> Iterator[TestClient]:
    with TestClient(vserver.app) as test_client:
        yield test_client
