"""Training runs: the group and seed a bundle declares (``agent.training``), so that runs of one method with
different seeds can be scored together as one multi-run entry (issue #16).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("submissions", sa.Column("training_group", sa.String(length=100), nullable=True))
    op.add_column("submissions", sa.Column("training_seed", sa.BigInteger(), nullable=True))
    op.create_index("ix_submissions_runs", "submissions", ["protocol_id", "training_group"])


def downgrade() -> None:
    op.drop_index("ix_submissions_runs", table_name="submissions")
    # Plain ALTER TABLE ... DROP COLUMN, as in 0003: a batch copy of the table would cascade to the bundles.
    op.execute("ALTER TABLE submissions DROP COLUMN training_seed")
    op.execute("ALTER TABLE submissions DROP COLUMN training_group")
