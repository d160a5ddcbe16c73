"""Paired comparison of two submissions on the identical episodes of one protocol."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from vla_bench.server.api.deps import BaseUrlDep, OptionalUser, QueryId, SessionDep
from vla_bench.server.schemas import ComparisonPublic, ErrorPublic, SubmissionListItem
from vla_bench.server.services.comparison import ComparisonError, compare_submissions

router = APIRouter(tags=["compare"])


@router.get("/compare", response_model=ComparisonPublic,
            responses={404: {"model": ErrorPublic}, 422: {"model": ErrorPublic}})
def compare(a: QueryId, b: QueryId, session: SessionDep, user: OptionalUser, base_url: BaseUrlDep) -> ComparisonPublic:
    """Per-task and overall paired difference B - A of the primary metric (paired-bootstrap 95% CI), and
    McNemar's exact test on success where the protocol has success."""
    try:
        sub_a, sub_b, result = compare_submissions(session, a, b, show_hidden=bool(user and user.is_admin))
    except ComparisonError as exc:
        raise HTTPException(exc.status_code, str(exc)) from None
    return ComparisonPublic(a=SubmissionListItem.of(sub_a, base_url), b=SubmissionListItem.of(sub_b, base_url),
                            comparison=result)
