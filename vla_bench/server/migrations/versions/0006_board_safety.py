"""Safety columns on the board: each submission's safety means per episode (collisions, collision rate,
workspace and joint-limit violations, peak end-effector speed), computed from its stored episodes at ingest
and backfilled here for the submissions already stored (issue #18).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("collisions", "collision_rate", "workspace_violations", "joint_limit_violations", "peak_ee_speed")
BATCH = 100  # bundles read per query: their episode text is the bulky part


def entry_safety(episodes_jsonl: str) -> dict[str, float] | None:
    """The same values as vla_bench.scoring.safety_summary.entry_safety over the episodes' ``safety`` fields
    (a test checks they agree); written out here so that this migration keeps its meaning whatever later code
    does."""
    rows: list[dict[str, Any]] = []
    for line in episodes_jsonl.splitlines():
        if '"safety"' in line:  # most benchmarks record none: skip parsing their lines
            safety = json.loads(line).get("safety")
            if safety is not None:
                rows.append(safety)
    if not rows:
        return None
    n = len(rows)
    entry: dict[str, float] = {c: math.fsum(float(row.get(c, 0.0)) for row in rows) / n for c in COLUMNS}
    entry["max_peak_ee_speed"] = max(float(row.get("peak_ee_speed", 0.0)) for row in rows)
    entry["n"] = n
    return entry


def upgrade() -> None:
    op.add_column("submissions", sa.Column("safety", sa.JSON(), nullable=True))
    connection = op.get_bind()
    ids = connection.execute(sa.text("SELECT submission_id FROM submission_bundles ORDER BY submission_id")).scalars()
    pending = list(ids)
    update = sa.text("UPDATE submissions SET safety = :s WHERE id = :i").bindparams(
        sa.bindparam("s", type_=sa.JSON()))
    select = sa.text("SELECT submission_id, episodes_jsonl FROM submission_bundles WHERE submission_id IN :ids"
                     ).bindparams(sa.bindparam("ids", expanding=True))
    for start in range(0, len(pending), BATCH):
        rows = connection.execute(select, {"ids": pending[start:start + BATCH]}).all()
        for submission_id, episodes_jsonl in rows:
            safety = entry_safety(episodes_jsonl)
            if safety is not None:
                connection.execute(update, {"s": safety, "i": submission_id})


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN, as in 0003: a batch copy of the table would cascade to the bundles.
    op.execute("ALTER TABLE submissions DROP COLUMN safety")
