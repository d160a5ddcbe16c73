"""A submission's training log (sent with the bundle) and its episode videos (uploaded afterwards)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from vla_bench.server import crud
from vla_bench.server.api.deps import BaseUrlDep, CurrentUser, DatabaseDep, OptionalUser, SessionDep, SettingsDep
from vla_bench.server.core.body import read_limited_body
from vla_bench.server.models import SubmissionVideo, User
from vla_bench.server.schemas import ErrorPublic
from vla_bench.server.services import media
from vla_bench.server.videos import MEDIA_TYPE, VideoRejectedError

router = APIRouter(prefix="/submissions", tags=["media"])
VideoId = Annotated[int, Path(ge=1, le=2**63 - 1)]
SubmissionKey = Annotated[int, Path(ge=1, le=2**63 - 1)]


class TrainingLogPublic(BaseModel):
    submission_id: int
    columns: list[str] = Field(description="the CSV's header; the first is step")
    rows: list[list[int | float | None]] = Field(description="one list per logged step; null where the measure "
                                                             "was not logged")
    note: str = "as submitted with the bundle: checked to be a plain numeric table, not tied to the model"


class VideoPublic(BaseModel):
    id: int
    label: str = Field(description="the file's name without .mp4, e.g. hopper-0003 (task, episode index)")
    url: str
    size_bytes: int
    sha256: str


def _visible(session: SessionDep, submission_id: int, user: User | None) -> None:
    submission = crud.get_submission(session=session, submission_id=submission_id)
    if submission is None or (submission.hidden and not (user and user.is_admin)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no submission {submission_id}")


def _video(video: SubmissionVideo, base_url: str) -> VideoPublic:
    return VideoPublic(id=video.id, label=video.label, size_bytes=video.size_bytes, sha256=video.sha256,
                       url=f"{base_url}/api/v1/submissions/{video.submission_id}/videos/{video.id}")


@router.get("/{submission_id}/training-log", response_model=TrainingLogPublic,
            responses={404: {"model": ErrorPublic}})
def read_training_log(submission_id: SubmissionKey, session: SessionDep, user: OptionalUser) -> TrainingLogPublic:
    """The submission's training log (the trainer's CSV as numbers); 404 when none was submitted."""
    _visible(session, submission_id, user)
    log = media.training_log(session, submission_id)
    if log is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"submission {submission_id} has no training log")
    stored = log.to_json()
    return TrainingLogPublic(submission_id=submission_id, columns=stored["columns"], rows=stored["rows"])


@router.get("/{submission_id}/videos", response_model=list[VideoPublic], responses={404: {"model": ErrorPublic}})
def list_videos(submission_id: SubmissionKey, session: SessionDep, user: OptionalUser,
                base_url: BaseUrlDep) -> list[VideoPublic]:
    """The submission's episode videos, in upload order."""
    _visible(session, submission_id, user)
    return [_video(v, base_url) for v in media.videos(session, submission_id)]


@router.get("/{submission_id}/videos/{video_id}", response_class=FileResponse,
            responses={200: {"content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
                       404: {"model": ErrorPublic}})
def read_video(submission_id: SubmissionKey, video_id: VideoId, session: SessionDep, user: OptionalUser,
               settings: SettingsDep) -> FileResponse:
    """One video's MP4 file (served as video/mp4 whatever it was uploaded as; byte ranges for seeking)."""
    _visible(session, submission_id, user)
    path = media.video_file(session, settings, submission_id, video_id)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"submission {submission_id} has no video {video_id}")
    return FileResponse(path, media_type=MEDIA_TYPE, headers={"Cache-Control": "public, max-age=86400"})


@router.put("/{submission_id}/videos/{name}", status_code=status.HTTP_201_CREATED, response_model=VideoPublic,
            responses={200: {"model": VideoPublic, "description": "the same file again: the video it already is"},
                       **{code: {"model": ErrorPublic} for code in (403, 404, 409, 413, 415, 422)}},
            openapi_extra={"requestBody": {"required": True, "content": {  # sent as video/mp4 or octet-stream
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def upload_video(submission_id: SubmissionKey, name: Annotated[str, Path(max_length=104)], request: Request,
                       user: CurrentUser, db: DatabaseDep, settings: SettingsDep, base_url: BaseUrlDep) -> JSONResponse:
    """Add an episode video (an MP4 file, the body, as video/mp4 or application/octet-stream) to your submission,
    named like the bundle's ``videos/hopper-0003.mp4``. Checked by its bytes (an ftyp box with an MP4 brand),
    bounded in size (VLA_BENCH_MAX_VIDEO_BYTES) and in number per submission."""
    declared = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if declared not in (MEDIA_TYPE, "application/octet-stream"):
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            f"send the video with Content-Type: {MEDIA_TYPE}, not {declared[:60]!r}")
    data = await read_limited_body(request, settings.max_video_bytes, what="video",
                                   setting="VLA_BENCH_MAX_VIDEO_BYTES")
    try:
        video, created = await run_in_threadpool(media.add_video, db, settings, submission_id, user, name, data)
    except VideoRejectedError as exc:
        raise HTTPException(exc.status_code, exc.message) from None
    return JSONResponse(_video(video, base_url).model_dump(mode="json"),
                        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

