"""Storing an accepted bundle exactly once, in one transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vla_bench.server import crud
from vla_bench.server.core.db import Database
from vla_bench.server.models import SubmissionTrainingLog, User
from vla_bench.server.validation import AcceptedBundle, BundleRejectedError
from vla_bench.server.verification.duplicates import (
    copy_message,
    find_copy,
    returns_sha256,
    serialize_same_returns,
)


@dataclass(frozen=True)
class StoreResult:
    submission_id: int
    created: bool  # False: the same bundle was already there (a duplicate), and that submission is returned
    status: str


def refuse_copies(session: Session, accepted: AcceptedBundle, user_id: int | None) -> str:
    """Refuse (409) a bundle whose outcomes or returns equal another owner's submission; its returns hash."""
    returns_hash = returns_sha256(accepted.records)
    serialize_same_returns(session, returns_hash)
    original = find_copy(session, protocol_sha256=accepted.protocol.sha256(),
                         episodes_sha256=accepted.episodes_sha256, returns_sha=returns_hash, owner_id=user_id)
    if original is not None:
        raise BundleRejectedError(409, copy_message(original, original.episodes_sha256 == accepted.episodes_sha256),
                                  "$.episodes")
    return returns_hash


def store_bundle(db: Database, accepted: AcceptedBundle, *, user_id: int | None, received_at: dt.datetime,
                 publish: bool, is_baseline: bool = False) -> StoreResult:
    """Insert the submission, its bundle and its state history together, or return the existing duplicate."""
    try:
        with db.write() as session:
            returns_hash = refuse_copies(session, accepted, user_id)
            existing = crud.find_duplicate(session=session, accepted=accepted)
            if existing is not None:
                return StoreResult(existing.id, False, existing.status)
            user = session.get(User, user_id) if user_id is not None else None
            submission = crud.add_submission(session=session, accepted=accepted, user=user, received_at=received_at,
                                             is_baseline=is_baseline, publish=publish)
            submission.returns_sha256 = returns_hash
            log = accepted.training_log
            if log is not None:
                stored = log.to_json()
                session.add(SubmissionTrainingLog(submission_id=submission.id, columns=stored["columns"],
                                                  rows=stored["rows"], n_rows=len(log.rows)))
            return StoreResult(submission.id, True, submission.status)
    except IntegrityError:
        # A concurrent identical submission committed first (PostgreSQL runs writers side by side; the
        # unique constraint decides): answer with the one that won.
        with db.session() as session:
            existing = crud.find_duplicate(session=session, accepted=accepted)
            if existing is None:
                raise
            return StoreResult(existing.id, False, existing.status)
