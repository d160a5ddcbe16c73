"""Pairing two stored submissions for the harness's paired comparison (used by the API and the compare page)."""

from __future__ import annotations

from fastapi import status
from sqlalchemy.orm import Session

from vla_bench.protocols import get_protocol
from vla_bench.scoring.compare import ComparisonJson, paired_comparison
from vla_bench.server import crud
from vla_bench.server.models import Submission
from vla_bench.spec.errors import UserError


class ComparisonError(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


def compare_submissions(session: Session, a_id: int, b_id: int, *, show_hidden: bool = False,
                        ) -> tuple[Submission, Submission, ComparisonJson]:
    """Both submissions and ``paired_comparison`` of B against A; shared by the API and the compare page."""
    found = []
    for submission_id in (a_id, b_id):
        submission = crud.get_submission(session=session, submission_id=submission_id)
        if submission is None or (submission.hidden and not show_hidden):
            raise ComparisonError(status.HTTP_404_NOT_FOUND, f"no submission {submission_id}")
        found.append(submission)
    a, b = found
    if a.protocol_sha256 != b.protocol_sha256:
        raise ComparisonError(status.HTTP_422_UNPROCESSABLE_CONTENT,
                              f"submission {a.id} ran {a.protocol_id} and {b.id} ran {b.protocol_id} (or another "
                              "version of it): only runs of the same protocol share episodes to pair")
    protocol = get_protocol(a.protocol_id, allow_deprecated=True)
    records_a = crud.episode_records(session=session, submission_id=a.id)
    records_b = crud.episode_records(session=session, submission_id=b.id)
    try:
        result = paired_comparison(protocol, records_a, records_b)
    except UserError as exc:
        raise ComparisonError(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return a, b, result
