"""Verified results: submitted policy artifacts, verification jobs with leases, and their evidence.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _returns_sha256(episodes_jsonl: str) -> str:
    """The same hash as vla_bench.server.verification.duplicates.returns_sha256 (a test checks they agree);
    written out here so that this migration keeps its meaning whatever later code does."""
    rows = []
    for line in episodes_jsonl.splitlines():
        if line.strip():
            record = json.loads(line)
            rows.append((record["task"], int(record["episode_index"]), record.get("total_return")))
    digest = hashlib.sha256()
    for row in sorted(rows, key=lambda r: (r[0], r[1])):
        digest.update(json.dumps(list(row), separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def upgrade() -> None:
    op.add_column("submissions", sa.Column("verification", sa.String(length=24), nullable=False,
                                           server_default="unverified"))
    op.add_column("submissions", sa.Column("returns_sha256", sa.String(length=64), nullable=True))
    op.create_index("ix_submissions_episodes", "submissions", ["protocol_sha256", "episodes_sha256"])
    op.create_index("ix_submissions_returns", "submissions", ["protocol_sha256", "returns_sha256"])
    op.create_table(
        "policy_artifacts",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["uploaded_by"], ["users.id"], name=op.f("fk_policy_artifacts_uploaded_by_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_policy_artifacts")),
    )
    op.create_table(
        "verification_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=True),
        sa.Column("endpoint_url", sa.Text(), nullable=True),
        sa.Column("endpoint_key", sa.Text(), nullable=True),
        sa.Column("sample", sa.JSON(), nullable=False),
        sa.Column("sampling", sa.JSON(), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"],
                                name=op.f("fk_verification_jobs_submission_id_submissions"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["artifact_sha256"], ["policy_artifacts.sha256"],
                                name=op.f("fk_verification_jobs_artifact_sha256_policy_artifacts"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_jobs")),
        sa.UniqueConstraint("submission_id", "attempt", name="uq_verification_jobs_attempt"),
    )
    op.create_index(op.f("ix_verification_jobs_submission_id"), "verification_jobs", ["submission_id"])
    op.create_index("ix_verification_jobs_claim", "verification_jobs", ["state", "lease_expires_at"])
    _backfill_returns()


def _backfill_returns() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT submission_id, episodes_jsonl FROM submission_bundles")).all()
    for submission_id, episodes_jsonl in rows:
        connection.execute(sa.text("UPDATE submissions SET returns_sha256 = :h WHERE id = :i"),
                           {"h": _returns_sha256(episodes_jsonl), "i": submission_id})


def downgrade() -> None:
    op.drop_index("ix_verification_jobs_claim", table_name="verification_jobs")
    op.drop_index(op.f("ix_verification_jobs_submission_id"), table_name="verification_jobs")
    op.drop_table("verification_jobs")
    op.drop_table("policy_artifacts")
    op.drop_index("ix_submissions_returns", table_name="submissions")
    op.drop_index("ix_submissions_episodes", table_name="submissions")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35 has it): a batch copy of the table would drop the old
    # one, and with foreign keys on, that cascades to every submission's bundle and events.
    op.execute("ALTER TABLE submissions DROP COLUMN returns_sha256")
    op.execute("ALTER TABLE submissions DROP COLUMN verification")
