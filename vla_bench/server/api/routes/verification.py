"""Verified results: attach the submission's policy (ONNX artifact or endpoint), read the evidence, re-queue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from vla_bench.server.api.deps import AdminUser, CurrentUser, DatabaseDep, OptionalUser, SessionDep, SettingsDep
from vla_bench.server.models import Submission, VerificationJob
from vla_bench.server.schemas import ErrorPublic
from vla_bench.server.verification import service
from vla_bench.server.verification.artifacts import ArtifactRejectedError
from vla_bench.server.verification.jobs import latest_job

router = APIRouter(prefix="/submissions", tags=["verification"])
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorPublic} for code in (401, 403, 404, 409, 413, 422)}


class QueuedPublic(BaseModel):
    submission_id: int
    verification: str = "verifying"
    attempt: int
    n_episodes: int = Field(description="episodes the worker will re-run (which ones stays secret until it has)")
    guarantee: str


class EndpointBody(BaseModel):
    url: str = Field(description="ws:// or wss:// address of a policy server speaking openpi's wire format")
    api_key: str | None = Field(default=None, max_length=1000, description="sent as 'Authorization: Api-Key ...'")


def _answer(submission_id: int, queued: service.Queued) -> QueuedPublic:
    return QueuedPublic(submission_id=submission_id, attempt=queued.attempt, n_episodes=queued.n_episodes,
                        guarantee=queued.guarantee)


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                              f"the artifact is larger than this server's limit of {limit} bytes "
                              "(VLA_BENCH_MAX_ARTIFACT_BYTES)")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, received = [], 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


@router.put("/{submission_id}/artifact", status_code=status.HTTP_202_ACCEPTED, response_model=QueuedPublic,
            responses=_ERRORS, openapi_extra={"requestBody": {"required": True, "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def upload_artifact(submission_id: int, request: Request, user: CurrentUser, db: DatabaseDep,
                          settings: SettingsDep) -> QueuedPublic:
    """Upload the ONNX model that produced the submission (the body is the file). Its sha256 must be the
    bundle's agent sha256. The server then picks a secret sample of episodes for a worker to re-run."""
    data = await _read_limited(request, settings.max_artifact_bytes)
    try:
        queued = await run_in_threadpool(service.attach_artifact, db, settings, submission_id, user, data)
    except ArtifactRejectedError as exc:
        raise HTTPException(exc.status_code, exc.message) from None
    return _answer(submission_id, queued)


@router.put("/{submission_id}/endpoint", status_code=status.HTTP_202_ACCEPTED, response_model=QueuedPublic,
            responses=_ERRORS)
def set_endpoint(submission_id: int, body: EndpointBody, user: CurrentUser, db: DatabaseDep,
                 settings: SettingsDep) -> QueuedPublic:
    """Name a policy server for the verifier to call instead of uploading a model (API key stored encrypted)."""
    try:
        queued = service.attach_endpoint(db, settings, submission_id, user, body.url, body.api_key)
    except ArtifactRejectedError as exc:
        raise HTTPException(exc.status_code, exc.message) from None
    return _answer(submission_id, queued)


@router.post("/{submission_id}/verification", status_code=status.HTTP_202_ACCEPTED, response_model=QueuedPublic,
             responses=_ERRORS)
def requeue_verification(submission_id: int, admin: AdminUser, db: DatabaseDep,
                         settings: SettingsDep) -> QueuedPublic:
    """Admin: verify again (a fresh secret sample, the same policy)."""
    try:
        queued = service.requeue(db, settings, submission_id, admin.name)
    except ArtifactRejectedError as exc:
        raise HTTPException(exc.status_code, exc.message) from None
    return _answer(submission_id, queued)


def evidence_of(submission: Submission, job: VerificationJob | None) -> dict[str, object]:
    """The public evidence: the sample and per-episode differences only once the job is done."""
    if job is None:
        return {"submission_id": submission.id, "verification": submission.verification, "job": None}
    done = job.state == "done"
    return {
        "submission_id": submission.id, "verification": submission.verification,
        "job": {"attempt": job.attempt, "state": job.state, "source": job.source,
                "artifact_sha256": job.artifact_sha256, "endpoint_url": job.endpoint_url,
                "sampling": job.sampling, "outcome": job.outcome, "message": job.message,
                "created_at": job.created_at, "started_at": job.started_at, "finished_at": job.finished_at,
                "sample": job.sample if done else None, "evidence": job.evidence if done else None},
    }


@router.get("/{submission_id}/verification", responses={404: {"model": ErrorPublic}})
def read_verification(submission_id: int, session: SessionDep, user: OptionalUser) -> Any:
    """The latest verification: state, guarantee, and once done the episodes re-run, their differences and
    the worker's provenance."""
    submission = session.get(Submission, submission_id)
    if submission is None or (submission.hidden and not (user and user.is_admin)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no submission {submission_id}")
    return evidence_of(submission, latest_job(session, submission_id))
