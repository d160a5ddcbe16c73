"""A submission's training log (the trainer's CSV as validated numbers) and its episode videos (MP4 files on
disk beside the database, one row each here), shown on its page (issue #16).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "training_logs",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"],
                                name=op.f("fk_training_logs_submission_id_submissions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_training_logs")),
    )
    op.create_table(
        "submission_videos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"],
                                name=op.f("fk_submission_videos_submission_id_submissions"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["uploaded_by"], ["users.id"], name=op.f("fk_submission_videos_uploaded_by_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission_videos")),
        sa.UniqueConstraint("submission_id", "sha256", name="uq_submission_videos_file"),
    )
    op.create_index(op.f("ix_submission_videos_submission_id"), "submission_videos", ["submission_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_submission_videos_submission_id"), table_name="submission_videos")
    op.drop_table("submission_videos")
    op.drop_table("training_logs")
