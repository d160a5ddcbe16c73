"""Server settings, read from ``VLA_BENCH_*`` environment variables.

A non-development deployment refuses the default secret: the secret keys the stored token hashes, so a
public server running with the well-known default would make a leaked database easier to abuse.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "changethis"
DEFAULT_PUBLIC_URL = "http://localhost:8000"
APP_NAME = "vla-bench"


def server_version() -> str:
    try:
        return importlib.metadata.version("vla-bench")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def default_database_url() -> str:
    """A SQLite file in the user's data directory (created when the engine first opens it)."""
    return f"sqlite:///{Path(platformdirs.user_data_dir(APP_NAME)) / 'leaderboard.sqlite3'}"


def default_results_dir() -> Path | None:
    """The repository's ``results/`` directory next to the package (a source checkout), if there is one."""
    candidate = Path(__file__).resolve().parents[3] / "results"
    return candidate if candidate.is_dir() else None


def normalize_database_url(url: str) -> str:
    """PostgreSQL URLs are pointed at the psycopg 3 driver; other URLs are kept as given."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VLA_BENCH_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    secret_key: str = DEFAULT_SECRET
    database_url: str = Field(default_factory=default_database_url)
    # Bundles loaded as reference baselines when the database is first created (None: load nothing).
    results_dir: Path | None = Field(default_factory=default_results_dir)
    load_baselines: bool = True
    migrate_on_start: bool = True
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    submit_rate_limit: int = Field(default=30, gt=0, description="submissions per token per window")
    submit_rate_window_s: float = Field(default=3600.0, gt=0)
    # False: validated submissions wait for an admin to publish them (a moderated board).
    auto_publish: bool = True
    score_rel_tol: float = Field(default=1e-6, gt=0)
    public_url: str | None = Field(default=None, description="base of every absolute link, e.g. https://board.example")
    page_size: int = Field(default=50, gt=0, le=500)
    # verified results (server/verification/): artifacts on disk beside the database unless set
    artifacts_dir: Path | None = None
    max_artifact_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    # episode videos of submissions (server/videos.py): stored under the artifacts directory's videos/
    max_video_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    verification_secret: str | None = Field(default=None, description="seeds the secret samples [default: "
                                                                       "derived from secret_key]")
    verify_fraction: float = Field(default=0.10, gt=0, le=1)
    verify_power: float = Field(default=0.95, gt=0, lt=1)
    verify_alpha: float = Field(default=0.01, gt=0, lt=1)
    verify_protocols: dict[str, dict[str, float]] = Field(default_factory=dict)  # per-protocol fraction/power/max
    verify_lease_s: float = Field(default=300.0, gt=0)
    # Serving: each worker process admits ``threads`` requests at once; its database pool is derived from that
    # (one connection per admitted request, plus the ingestion slots and headroom), so no thread ever waits
    # for a connection. Past the queue, requests get a fast 503 with Retry-After instead of a stall.
    workers: int = Field(default=1, gt=0, le=64, description="uvicorn worker processes (vla-bench serve)")
    threads: int = Field(default=16, gt=0, le=256, description="requests served at once per worker")
    queue_depth: int | None = Field(default=None, ge=0, description="requests waiting per worker [4 x threads]")
    queue_timeout_s: float = Field(default=2.0, gt=0, le=60)
    ingest_slots: int = Field(default=1, gt=0, le=16, description="submissions validated at once per worker")
    db_pool_size: int | None = Field(default=None, gt=0, description="[threads + ingest_slots + 2]")
    db_pool_timeout_s: float = Field(default=5.0, gt=0, le=120)
    retry_after_s: int = Field(default=1, gt=0, le=3600)
    # >0: submissions are validated in that many child processes, not in the serving process (whose readers
    # would wait on the interpreter lock meanwhile); `vla-bench serve` uses 1 unless told otherwise.
    ingest_processes: int = Field(default=0, ge=0, le=16)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"VLA_BENCH_PUBLIC_URL {value!r} must be http(s)://host[:port][/path], "
                             "without query or fragment")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str) -> str:
        return normalize_database_url(value)

    @model_validator(mode="after")
    def _enforce_non_default_secret(self) -> Settings:
        if self.environment != "development" and self.secret_key == DEFAULT_SECRET:
            raise ValueError(
                f"VLA_BENCH_SECRET_KEY is the default {DEFAULT_SECRET!r}, which is refused outside development "
                "(VLA_BENCH_ENVIRONMENT=" + self.environment + "). Set a random secret, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        if self.environment != "development" and len(self.secret_key) < 16:
            raise ValueError("VLA_BENCH_SECRET_KEY must be at least 16 characters outside development")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        """Where links in answers point: the configured public URL (``serve`` fills in its own address)."""
        return self.public_url or DEFAULT_PUBLIC_URL

    @property
    def pool_size(self) -> int:
        return self.db_pool_size or self.threads + self.ingest_slots + 2

    @property
    def max_queue(self) -> int:
        return 4 * self.threads if self.queue_depth is None else self.queue_depth
