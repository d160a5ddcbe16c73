"""Database tables (SQLAlchemy 2 typed ORM). The schema is owned by the Alembic migrations in ``migrations/``;
a test checks that these models and the migrations agree."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from pydantic import JsonValue
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine

from vla_bench.spec.summary import ScoresJson

# Deterministic constraint names: Alembic can then alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("submitter", "admin")
STATES = ("submitted", "validated", "published", "rejected")
# Re-running a secret sample of the episodes against the submitted policy (server/verification/).
VERIFICATION_STATES = ("unverified", "verifying", "verified", "verification_failed", "inconclusive")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[type, TypeEngine[dt.datetime]]] = {dt.datetime: UTCDateTime()}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="submitter")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship(back_populates="tokens")


class Submission(Base):
    """One accepted results bundle, with the columns the leaderboard sorts and filters on."""

    __tablename__ = "submissions"
    __table_args__ = (
        # The duplicate rule: the same agent, protocol and episode outcomes are one submission.
        UniqueConstraint("agent_identity", "protocol_sha256", "episodes_sha256", name="uq_submissions_bundle"),
        # Covers a board's default page (rank, sort, tie-break) without reading the table's rows.
        # Covers a board's filters (verification included), rank and default sort without reading rows.
        Index("ix_submissions_board", "protocol_id", "status", "hidden", "verification", "score_mean", "submitted_at"),
        # copy detection: the same outcomes (or returns) under the same protocol, whoever the agent claims to be
        Index("ix_submissions_episodes", "protocol_sha256", "episodes_sha256"),
        Index("ix_submissions_returns", "protocol_sha256", "returns_sha256"),
        # a board's multi-run entries: runs of one training group
        Index("ix_submissions_runs", "protocol_id", "training_group"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    is_baseline: Mapped[bool] = mapped_column(Boolean, default=False)
    is_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)

    benchmark: Mapped[str] = mapped_column(String(64), index=True)
    protocol_id: Mapped[str] = mapped_column(String(128))
    protocol_version: Mapped[int] = mapped_column(Integer)
    protocol_sha256: Mapped[str] = mapped_column(String(64))
    primary_metric: Mapped[str] = mapped_column(String(32))

    agent_name: Mapped[str] = mapped_column(String(200))
    agent_spec: Mapped[str] = mapped_column(Text)
    agent_kind: Mapped[str] = mapped_column(String(64))
    agent_sha256: Mapped[str | None] = mapped_column(String(64))
    agent_identity: Mapped[str] = mapped_column(String(64))
    episodes_sha256: Mapped[str] = mapped_column(String(64))
    # verification (issue #12): see VERIFICATION_STATES; returns_sha256 finds copies with edited side fields
    verification: Mapped[str] = mapped_column(String(24), default="unverified", server_default="unverified")
    returns_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    # the training run the bundle declares (agent.training): runs of one group form a multi-run entry
    training_group: Mapped[str | None] = mapped_column(String(100), default=None)
    training_seed: Mapped[int | None] = mapped_column(BigInteger, default=None)

    n_episodes: Mapped[int] = mapped_column(Integer)
    n_errors: Mapped[int] = mapped_column(Integer)
    score_mean: Mapped[float | None] = mapped_column(Double)
    score_low: Mapped[float | None] = mapped_column(Double)
    score_high: Mapped[float | None] = mapped_column(Double)
    iqm_mean: Mapped[float | None] = mapped_column(Double)
    iqm_low: Mapped[float | None] = mapped_column(Double)
    iqm_high: Mapped[float | None] = mapped_column(Double)
    # safety means per episode (scoring.safety_summary.entry_safety), computed at ingest from the stored
    # episodes, never from the submitter's summary; SQL NULL where no episode records safety (migration 0006)
    safety: Mapped[dict[str, float] | None] = mapped_column(JSON(none_as_null=True), default=None)

    harness_version: Mapped[str] = mapped_column(String(64))
    run_finished_at: Mapped[str | None] = mapped_column(String(64))
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship(lazy="joined")
    bundle: Mapped[SubmissionBundle] = relationship(
        back_populates="submission", cascade="all, delete-orphan", passive_deletes=True, lazy="raise"
    )
    events: Mapped[list[SubmissionEvent]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", passive_deletes=True,
        order_by="SubmissionEvent.id",
    )


class SubmissionBundle(Base):
    """The bundle as submitted (summary + episode lines) and the scores the server recomputed from it: the
    bulky part of a submission, kept apart so that board queries scan only narrow rows."""

    __tablename__ = "submission_bundles"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    summary: Mapped[dict[str, JsonValue]] = mapped_column(JSON)  # summary.json as it was sent
    scores: Mapped[ScoresJson] = mapped_column(JSON)  # as scoring.scores.compute_scores made them
    episodes_jsonl: Mapped[str] = deferred(mapped_column(Text, nullable=False))

    submission: Mapped[Submission] = relationship(back_populates="bundle")


class SubmissionEvent(Base):
    """One state change of a submission (submitted, validated, published, rejected, hidden, ...)."""

    __tablename__ = "submission_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    actor: Mapped[str | None] = mapped_column(String(64), default=None)

    submission: Mapped[Submission] = relationship(back_populates="events")


class ServerMeta(Base):
    """Small facts about this database, e.g. when the reference baselines were loaded."""

    __tablename__ = "server_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class PolicyArtifact(Base):
    """A submitted policy file (ONNX), content-addressed by its sha256; the bytes live on disk, not here."""

    __tablename__ = "policy_artifacts"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    format: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(300))  # relative to the server's artifacts directory
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class VerificationJob(Base):
    """One verification of a submission: the secret sample to re-run, the lease of the worker running it,
    and the outcome with its evidence. A re-queue adds a job (attempt + 1, a fresh sample)."""

    __tablename__ = "verification_jobs"
    __table_args__ = (
        UniqueConstraint("submission_id", "attempt", name="uq_verification_jobs_attempt"),
        Index("ix_verification_jobs_claim", "state", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | done | superseded
    source: Mapped[str] = mapped_column(String(16))  # artifact | endpoint
    artifact_sha256: Mapped[str | None] = mapped_column(
        ForeignKey("policy_artifacts.sha256", ondelete="RESTRICT"), default=None)
    endpoint_url: Mapped[str | None] = mapped_column(Text, default=None)
    endpoint_key: Mapped[str | None] = mapped_column(Text, default=None)  # encrypted with the server secret
    sample: Mapped[list[list[str | int]]] = mapped_column(JSON)  # [[task, episode_index], ...]
    sampling: Mapped[dict[str, object]] = mapped_column(JSON)  # fraction, power, population, size, guarantee
    lease_owner: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    claims: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    outcome: Mapped[str | None] = mapped_column(String(24), default=None)
    message: Mapped[str | None] = mapped_column(Text, default=None)
    evidence: Mapped[dict[str, object] | None] = mapped_column(JSON, default=None)  # verification/worker.py's
    requested_by: Mapped[str | None] = mapped_column(String(64), default=None)


class RateLimitHit(Base):
    """One counted attempt of a rate-limited action (a submission) by one key (a token): shared by every
    worker process and replica, unlike a limit kept in one process's memory."""

    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128))
    at: Mapped[float] = mapped_column(Double)  # seconds since the epoch: one clock for every process


class SubmissionTrainingLog(Base):
    """A submission's training log (server/training_log.py): the trainer's CSV as validated numbers, drawn as
    curves on the submission's page. Optional; its own table so that no board query reads it."""

    __tablename__ = "training_logs"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    columns: Mapped[list[str]] = mapped_column(JSON)  # ["step", "loss", ...]
    rows: Mapped[list[list[int | float | None]]] = mapped_column(JSON)  # [[500, 0.0197, null, ...], ...]
    n_rows: Mapped[int] = mapped_column(Integer)


class SubmissionVideo(Base):
    """An episode video (MP4) uploaded for a submission (server/videos.py): the bytes live on disk beside the
    database, content-addressed like policy artifacts; this row says whose it is and in what order it shows."""

    __tablename__ = "submission_videos"
    __table_args__ = (UniqueConstraint("submission_id", "sha256", name="uq_submission_videos_file"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100))  # the file's name without .mp4, e.g. "hopper-0003"
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(300))  # relative to the server's videos directory
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
