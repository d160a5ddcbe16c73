"""A submission's training log and episode videos: reading them for its page and the API, adding videos.

The training log arrives with the bundle and is stored in its transaction (``services.submissions``); videos
arrive afterwards, one authenticated upload each, from the submission's owner (or an admin).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vla_bench.server import crud
from vla_bench.server.core.config import Settings
from vla_bench.server.core.db import Database
from vla_bench.server.models import (
    Submission,
    SubmissionEvent,
    SubmissionTrainingLog,
    SubmissionVideo,
    User,
    utcnow,
)
from vla_bench.server.training_log import TrainingLog
from vla_bench.server.verification.artifacts import CheckedArtifact
from vla_bench.server.verification.config import artifacts_root
from vla_bench.server.videos import MAX_VIDEOS, VideoRejectedError, VideoStore, check_label, check_video


def videos_root(settings: Settings) -> Path:
    return artifacts_root(settings) / "videos"


def training_log(session: Session, submission_id: int) -> TrainingLog | None:
    stored = session.get(SubmissionTrainingLog, submission_id)
    return TrainingLog.from_json({"columns": stored.columns, "rows": stored.rows}) if stored else None


def has_training_log(session: Session, submission_id: int) -> bool:
    found = select(SubmissionTrainingLog.submission_id).where(SubmissionTrainingLog.submission_id == submission_id)
    return session.scalar(found) is not None


def videos(session: Session, submission_id: int) -> list[SubmissionVideo]:
    return list(session.scalars(select(SubmissionVideo).where(SubmissionVideo.submission_id == submission_id)
                                .order_by(SubmissionVideo.id)))


def add_video(db: Database, settings: Settings, submission_id: int, caller: User, name: str,
              data: bytes) -> tuple[SubmissionVideo, bool]:
    """Check and store one video of ``caller``'s submission: (its row, whether it is new). The same file again
    answers with the row it already has; nothing is stored when it is refused."""
    label = check_label(name)
    with db.session() as session:
        refusal = crud.ownership_refusal(session.get(Submission, submission_id), submission_id, caller)
        if refusal is not None:
            raise VideoRejectedError(*refusal)
    checked = check_video(data, max_bytes=settings.max_video_bytes)
    try:
        return _store(db, VideoStore(videos_root(settings)), submission_id, caller, label, checked)
    except IntegrityError:  # the same file uploaded twice at once: the other upload's row wins
        with db.session() as session:
            existing = session.scalar(select(SubmissionVideo).where(SubmissionVideo.submission_id == submission_id,
                                                                    SubmissionVideo.sha256 == checked.sha256))
            if existing is None:
                raise
            session.expunge(existing)
            return existing, False


def _store(db: Database, store: VideoStore, submission_id: int, caller: User, label: str,
           checked: CheckedArtifact) -> tuple[SubmissionVideo, bool]:
    with db.write() as session:
        existing = session.scalar(select(SubmissionVideo).where(SubmissionVideo.submission_id == submission_id,
                                                                SubmissionVideo.sha256 == checked.sha256))
        if existing is not None:
            session.expunge(existing)
            return existing, False
        count = session.scalar(select(func.count()).select_from(SubmissionVideo)
                               .where(SubmissionVideo.submission_id == submission_id)) or 0
        if count >= MAX_VIDEOS:
            raise VideoRejectedError(409, f"submission {submission_id} already has {count} videos, the most this "
                                          "server keeps per submission")
        # a file shared by another row is never removed, so a failed insert below leaves it in place
        relative = store.put(checked)
        video = SubmissionVideo(submission_id=submission_id, label=label, sha256=checked.sha256,
                                size_bytes=checked.size_bytes, path=relative, uploaded_by=caller.id,
                                created_at=utcnow())
        session.add(video)
        # an event, like every change a page shows: it moves the version the page cache is keyed by
        session.add(SubmissionEvent(submission_id=submission_id, state="video added", at=utcnow(), actor=caller.name,
                                    note=label))
        session.flush()
        session.expunge(video)
        return video, True


def video_file(session: Session, settings: Settings, submission_id: int, video_id: int) -> Path | None:
    video = session.get(SubmissionVideo, video_id)
    if video is None or video.submission_id != submission_id:
        return None
    path = VideoStore(videos_root(settings)).path(video.path)
    return path if path.is_file() else None


def video_paths(db: Database, submission_id: int) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(SubmissionVideo.path).where(SubmissionVideo.submission_id == submission_id)))


def remove_unreferenced(db: Database, settings: Settings, paths: list[str]) -> None:
    """Delete the files of ``paths`` that no video row names any more (after their submission was deleted)."""
    if not paths:
        return
    with db.session() as session:
        kept = set(session.scalars(select(SubmissionVideo.path).where(SubmissionVideo.path.in_(paths))))
    store = VideoStore(videos_root(settings))
    for relative in set(paths) - kept:
        store.path(relative).unlink(missing_ok=True)
