"""Submit a results bundle; read, download, moderate and delete submissions."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy.orm import undefer

from vla_bench.server import crud
from vla_bench.server.api.deps import (
    AdminUser,
    BaseUrlDep,
    CurrentCaller,
    DatabaseDep,
    OptionalUser,
    RateLimiterDep,
    SessionDep,
    SettingsDep,
    SubmissionId,
)
from vla_bench.server.core.admission import Slots
from vla_bench.server.core.body import read_limited_body
from vla_bench.server.models import Submission, SubmissionBundle, User, utcnow
from vla_bench.server.schemas import ErrorPublic, SubmissionBody, SubmissionCreated, SubmissionPublic, SubmissionUpdate
from vla_bench.server.services import media, moderation
from vla_bench.server.services.ingestion import Ingestor

router = APIRouter(prefix="/submissions", tags=["submissions"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic, "description": text} for code, text in {
        400: "the body is not valid JSON", 401: "no or invalid API token", 413: "the body is too large",
        422: "the bundle fails a check (schema, protocol hash, episode plan, recomputed scores)",
        429: "rate limit reached; see the Retry-After header",
        503: "the server is busy; see the Retry-After header",
    }.items()
}
_BODY = {"requestBody": {"required": True,
                         "content": {"application/json": {"schema": SubmissionBody.model_json_schema()}}}}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SubmissionCreated, openapi_extra=_BODY,
             responses={200: {"model": SubmissionCreated, "description": "a duplicate: the existing submission"},
                        **_ERRORS})
async def create_submission(*, request: Request, caller: CurrentCaller, settings: SettingsDep, db: DatabaseDep,
                            limiter: RateLimiterDep, base_url: BaseUrlDep) -> JSONResponse:
    """Submit a results bundle (the contents of summary.json and the lines of episodes.jsonl).

    The server checks it against its JSON Schemas, the protocol's id/version/hash and episode plan, and
    recomputes every score from the episodes; anything that fails is refused with the JSON path of the
    problem and nothing is stored. The same agent + protocol + episode outcomes answers with the existing
    submission (200) instead of creating a new one (201)."""
    wait = await run_in_threadpool(limiter.acquire, f"submit:{caller.token_id}")
    if wait is not None:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"rate limit: at most {limiter.limit} submissions per {limiter.window_s:g} s per token; "
                            f"retry in {wait} s", headers={"Retry-After": str(wait)})
    received_at = utcnow()
    raw = await read_limited_body(request, settings.max_body_bytes)
    slots: Slots = request.app.state.ingest_slots
    ingestor: Ingestor = request.app.state.ingestor
    if not await slots.acquire():  # validation is CPU-bound: a bounded few at once, the rest told to retry
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"the server is busy validating other submissions: retry in {settings.retry_after_s} s",
                            headers={"Retry-After": str(settings.retry_after_s)})
    try:
        result = await ingestor.submit(raw, caller.user.id, received_at)
    finally:
        slots.release()
    created = SubmissionCreated(id=result.submission_id, url=f"{base_url}/submissions/{result.submission_id}",
                                api_url=f"{base_url}/api/v1/submissions/{result.submission_id}",
                                status=result.status, duplicate=not result.created)
    return JSONResponse(created.model_dump(mode="json"),
                        status_code=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


def _visible(session: SessionDep, submission_id: int, user: User | None) -> Submission:
    submission = crud.get_submission(session=session, submission_id=submission_id)
    if submission is None or (submission.hidden and not (user and user.is_admin)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no submission {submission_id}")
    return submission


@router.get("/{submission_id}", response_model=SubmissionPublic, responses={404: {"model": ErrorPublic}})
def read_submission(submission_id: SubmissionId, session: SessionDep, user: OptionalUser,
                    base_url: BaseUrlDep) -> SubmissionPublic:
    """A submission with its recomputed scores, provenance and state history (hidden ones: admins only)."""
    return _full(session, _visible(session, submission_id, user), base_url)


def _full(session: SessionDep, submission: Submission, base_url: str) -> SubmissionPublic:
    bundle = crud.get_bundle(session=session, submission_id=submission.id)
    if bundle is None:  # written in the submission's own transaction: only a damaged database lacks it
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, f"submission {submission.id} has no bundle")
    return SubmissionPublic.full(submission, bundle, base_url,
                                 has_training_log=media.has_training_log(session, submission.id))


@router.get("/{submission_id}/bundle",
            responses={200: {"content": {"application/json": {}}}, 404: {"model": ErrorPublic}})
def download_bundle(submission_id: SubmissionId, session: SessionDep, user: OptionalUser) -> Response:
    """The bundle as submitted, in the body format of POST /submissions (so it can be re-checked or re-sent);
    a training log comes back as CSV written from its validated numbers."""
    _visible(session, submission_id, user)
    log = media.training_log(session, submission_id)
    training = f',\n"training_log": {json.dumps({"csv": log.to_csv()})}' if log is not None else ""
    bundle = session.get(SubmissionBundle, submission_id, options=[undefer(SubmissionBundle.episodes_jsonl)])
    if bundle is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"submission {submission_id} has no stored bundle")
    lines = ",\n".join(line for line in bundle.episodes_jsonl.splitlines() if line)
    body = ('{"summary": ' + json.dumps(bundle.summary, indent=1) + ',\n"episodes": [\n' + lines + "\n]"
            + training + "}\n")
    filename = f"vla-bench-submission-{submission_id}.json"
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.patch("/{submission_id}", response_model=SubmissionPublic,
              responses={403: {"model": ErrorPublic}, 404: {"model": ErrorPublic}, 422: {"model": ErrorPublic}})
def update_submission(submission_id: SubmissionId, update: SubmissionUpdate, admin: AdminUser, db: DatabaseDep,
                      base_url: BaseUrlDep) -> SubmissionPublic:
    """Admin: hide or unhide, publish, reject (with a reason), or mark host-verified."""
    actions: list[tuple[moderation.Action, str | None]] = []
    if update.hidden is not None:
        actions.append(("hide" if update.hidden else "unhide", None))
    if update.verified is not None:
        actions.append(("verify" if update.verified else "unverify", None))
    if update.status == "published":
        actions.append(("publish", None))
    elif update.status == "rejected":
        if not (update.reason and update.reason.strip()):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "rejecting a submission needs a reason")
        actions.append(("reject", update.reason))
    if not actions:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "nothing to change: send hidden, verified or status")
    try:
        for action, reason in actions:
            moderation.apply(db, submission_id, action, actor=admin.name, reason=reason)
    except moderation.SubmissionNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    with db.session() as session:  # a fresh session: it sees the changes just committed
        return _full(session, _visible(session, submission_id, admin), base_url)


@router.delete("/{submission_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={403: {"model": ErrorPublic}, 404: {"model": ErrorPublic}})
def delete_submission(submission_id: SubmissionId, admin: AdminUser, db: DatabaseDep,
                      settings: SettingsDep) -> Response:
    """Admin: delete a submission, its stored bundle, training log and videos for good (hiding keeps it)."""
    videos = media.video_paths(db, submission_id)
    try:
        moderation.delete(db, submission_id)
    except moderation.SubmissionNotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    media.remove_unreferenced(db, settings, videos)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
