"""Copies of another user's results: the same episode outcomes (``episodes_sha256``) or the same returns
episode by episode (``returns_sha256``, which survives edits to side fields such as lengths or timings),
under the same protocol. A copy is refused naming the original, unless both belong to the same owner."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from vla_bench.server.models import Submission
from vla_bench.spec import EpisodeRecord


def returns_sha256(records: Iterable[EpisodeRecord]) -> str:
    """Hash of (task, episode index, return) in plan order (the 0003 migration computes the same)."""
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r.key):
        value = record.to_json()["total_return"]  # non-finite -> None, as in the stored line
        row = [record.task, record.episode_index, value]
        digest.update(json.dumps(row, separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def find_copy(session: Session, *, protocol_sha256: str, episodes_sha256: str, returns_sha: str,
              owner_id: int | None) -> Submission | None:
    """The earliest submission of another owner with these outcomes or returns, if any."""
    # spelled out: `user_id != owner` alone is NULL (not true) for the baselines, whose user_id is NULL
    other_owner = (Submission.user_id.is_not(None) if owner_id is None
                   else or_(Submission.user_id.is_(None), Submission.user_id != owner_id))
    return session.scalar(
        select(Submission).where(
            Submission.protocol_sha256 == protocol_sha256,
            or_(Submission.episodes_sha256 == episodes_sha256, Submission.returns_sha256 == returns_sha),
            other_owner,
        ).order_by(Submission.id).limit(1)
    )


def copy_message(original: Submission, same_outcomes: bool) -> str:
    owner = "the reference baselines" if original.is_baseline else (
        f"user {original.user.name!r}" if original.user is not None else "another user")
    what = "the same episode outcomes" if same_outcomes else "the same return in every episode"
    return (f"this bundle has {what} as submission {original.id} ({original.agent_name!r} on "
            f"{original.protocol_id}, by {owner}): a copy of another user's results is refused")


def serialize_same_returns(session: Session, returns_sha: str) -> None:
    """On PostgreSQL, make concurrent submissions of the same returns wait for each other until commit, so that
    two owners racing with one copy cannot both pass :func:`find_copy` (SQLite writers are serialized already)."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(bytes.fromhex(returns_sha[:16]), "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
