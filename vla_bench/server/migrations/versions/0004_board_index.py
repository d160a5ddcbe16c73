"""The board index covers the verification filter (added in 0003): a board's count, ranks and page are then
read from the index alone instead of from every row of the protocol (issue #11's 10,000-entry boards).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ["protocol_id", "status", "hidden", "score_mean", "submitted_at"]
NEW = ["protocol_id", "status", "hidden", "verification", "score_mean", "submitted_at"]


def upgrade() -> None:
    op.drop_index("ix_submissions_board", table_name="submissions")
    op.create_index("ix_submissions_board", "submissions", NEW)


def downgrade() -> None:
    op.drop_index("ix_submissions_board", table_name="submissions")
    op.create_index("ix_submissions_board", "submissions", OLD)
