"""Admin actions on submissions: hide/unhide, publish, reject with a reason, mark verified, delete."""

from __future__ import annotations

from typing import Literal

from vla_bench.server import crud
from vla_bench.server.core.db import Database
from vla_bench.spec.errors import UserError

Action = Literal["hide", "unhide", "publish", "reject", "verify", "unverify"]


class SubmissionNotFoundError(UserError):
    pass


def apply(db: Database, submission_id: int, action: Action, *, actor: str, reason: str | None = None) -> None:
    """Apply ``action`` and record it in the submission's history, in one transaction."""
    if action == "reject" and not (reason and reason.strip()):
        raise UserError("rejecting a submission needs a reason (it is shown on the submission page)")
    with db.write() as session:
        submission = crud.get_submission(session=session, submission_id=submission_id)
        if submission is None:
            raise SubmissionNotFoundError(f"no submission {submission_id}")
        note = None
        if action in ("hide", "unhide"):
            submission.hidden = action == "hide"
        elif action in ("verify", "unverify"):
            submission.is_verified = action == "verify"
        elif action == "publish":
            submission.status, submission.reason = "published", None
        else:
            submission.status, submission.reason = "rejected", reason
            note = reason
        crud.record_event(session=session, submission=submission, state=_event_name(action), actor=actor, note=note)


def _event_name(action: Action) -> str:
    return {"hide": "hidden", "unhide": "unhidden", "publish": "published", "reject": "rejected",
            "verify": "verified", "unverify": "unverified"}[action]


def delete(db: Database, submission_id: int) -> None:
    with db.write() as session:
        submission = crud.get_submission(session=session, submission_id=submission_id)
        if submission is None:
            raise SubmissionNotFoundError(f"no submission {submission_id}")
        session.delete(submission)
