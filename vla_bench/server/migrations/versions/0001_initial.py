"""Initial leaderboard schema: users, API tokens, submissions with their bundles and events, server meta.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("is_baseline", sa.Boolean(), nullable=False),
        sa.Column("is_verified", sa.Boolean(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("benchmark", sa.String(length=64), nullable=False),
        sa.Column("protocol_id", sa.String(length=128), nullable=False),
        sa.Column("protocol_version", sa.Integer(), nullable=False),
        sa.Column("protocol_sha256", sa.String(length=64), nullable=False),
        sa.Column("primary_metric", sa.String(length=32), nullable=False),
        sa.Column("agent_name", sa.String(length=200), nullable=False),
        sa.Column("agent_spec", sa.Text(), nullable=False),
        sa.Column("agent_kind", sa.String(length=64), nullable=False),
        sa.Column("agent_sha256", sa.String(length=64), nullable=True),
        sa.Column("agent_identity", sa.String(length=64), nullable=False),
        sa.Column("episodes_sha256", sa.String(length=64), nullable=False),
        sa.Column("n_episodes", sa.Integer(), nullable=False),
        sa.Column("n_errors", sa.Integer(), nullable=False),
        sa.Column("score_mean", sa.Double(), nullable=True),
        sa.Column("score_low", sa.Double(), nullable=True),
        sa.Column("score_high", sa.Double(), nullable=True),
        sa.Column("iqm_mean", sa.Double(), nullable=True),
        sa.Column("iqm_low", sa.Double(), nullable=True),
        sa.Column("iqm_high", sa.Double(), nullable=True),
        sa.Column("harness_version", sa.String(length=64), nullable=False),
        sa.Column("run_finished_at", sa.String(length=64), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_submissions_user_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submissions")),
        sa.UniqueConstraint("agent_identity", "protocol_sha256", "episodes_sha256", name="uq_submissions_bundle"),
    )
    op.create_index("ix_submissions_board", "submissions",
                    ["protocol_id", "status", "hidden", "score_mean", "submitted_at"])
    op.create_index(op.f("ix_submissions_benchmark"), "submissions", ["benchmark"])
    op.create_index(op.f("ix_submissions_user_id"), "submissions", ["user_id"])
    op.create_table(
        "submission_bundles",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("episodes_jsonl", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"],
                                name=op.f("fk_submission_bundles_submission_id_submissions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_submission_bundles")),
    )
    op.create_table(
        "submission_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"],
                                name=op.f("fk_submission_events_submission_id_submissions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission_events")),
    )
    op.create_index(op.f("ix_submission_events_submission_id"), "submission_events", ["submission_id"])
    op.create_table(
        "server_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_server_meta")),
    )


def downgrade() -> None:
    op.drop_table("server_meta")
    op.drop_index(op.f("ix_submission_events_submission_id"), table_name="submission_events")
    op.drop_table("submission_events")
    op.drop_table("submission_bundles")
    op.drop_index(op.f("ix_submissions_user_id"), table_name="submissions")
    op.drop_index(op.f("ix_submissions_benchmark"), table_name="submissions")
    op.drop_index("ix_submissions_board", table_name="submissions")
    op.drop_table("submissions")
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("users")
