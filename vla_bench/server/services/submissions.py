"""Storing an accepted bundle exactly once, in one transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from vla_bench.server import crud
from vla_bench.server.core.db import Database
from vla_bench.server.models import User
from vla_bench.server.validation import AcceptedBundle


@dataclass(frozen=True)
class StoreResult:
    submission_id: int
    created: bool  # False: the same bundle was already there (a duplicate), and that submission is returned
    status: str


def store_bundle(db: Database, accepted: AcceptedBundle, *, user_id: int | None, received_at: dt.datetime,
                 publish: bool, is_baseline: bool = False) -> StoreResult:
    """Insert the submission, its bundle and its state history together, or return the existing duplicate."""
    try:
        with db.write() as session:
            existing = crud.find_duplicate(session=session, accepted=accepted)
            if existing is not None:
                return StoreResult(existing.id, False, existing.status)
            user = session.get(User, user_id) if user_id is not None else None
            submission = crud.add_submission(session=session, accepted=accepted, user=user, received_at=received_at,
                                             is_baseline=is_baseline, publish=publish)
            return StoreResult(submission.id, True, submission.status)
    except IntegrityError:
        # A concurrent identical submission committed first (PostgreSQL runs writers side by side; the
        # unique constraint decides): answer with the one that won.
        with db.session() as session:
            existing = crud.find_duplicate(session=session, accepted=accepted)
            if existing is None:
                raise
            return StoreResult(existing.id, False, existing.status)
