"""Settings: environment prefix, URL normalization, and the default secret refused outside development."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from vla_bench.server.core.config import DEFAULT_SECRET, Settings


def test_settings_come_from_vla_bench_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLA_BENCH_DATABASE_URL", "postgres://u@db.example:5432/board")
    monkeypatch.setenv("VLA_BENCH_MAX_BODY_BYTES", "1234")
    monkeypatch.setenv("VLA_BENCH_AUTO_PUBLISH", "false")
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://u@db.example:5432/board"
    assert settings.max_body_bytes == 1234 and settings.auto_publish is False


def test_the_default_database_is_a_sqlite_file_in_the_user_data_directory(monkeypatch: pytest.MonkeyPatch,
                                                                           tmp_path: Path) -> None:
    monkeypatch.delenv("VLA_BENCH_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert Settings().database_url == f"sqlite:///{tmp_path / 'vla-bench' / 'leaderboard.sqlite3'}"


def test_production_refuses_the_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLA_BENCH_ENVIRONMENT", "production")
    monkeypatch.delenv("VLA_BENCH_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="VLA_BENCH_SECRET_KEY is the default"):
        Settings()
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(secret_key="short")
    assert Settings(secret_key="x" * 32).environment == "production"
    monkeypatch.setenv("VLA_BENCH_ENVIRONMENT", "development")
    assert Settings().secret_key == DEFAULT_SECRET  # development may use it
