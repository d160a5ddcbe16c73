"""Giving a submission its policy (an ONNX artifact or a policy endpoint) and (re-)queueing its verification.

A submitter attaches a policy once, while the submission is unverified: after that only an admin re-queues
(with a fresh secret sample), so an owner cannot re-draw samples until one misses the fabricated episodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select

from vla_bench.server import crud
from vla_bench.server.core.config import Settings
from vla_bench.server.core.db import Database
from vla_bench.server.models import PolicyArtifact, Submission, User, VerificationJob, utcnow
from vla_bench.server.verification import jobs
from vla_bench.server.verification.artifacts import ArtifactRejectedError, ArtifactStore, check_artifact
from vla_bench.server.verification.config import artifacts_root, encrypt_key, sample_secret, sampling_policy

MAX_URL_CHARS = 2000


@dataclass(frozen=True)
class Queued:
    job_id: int
    attempt: int
    n_episodes: int
    guarantee: str


def _queued(job: VerificationJob) -> Queued:
    return Queued(job.id, job.attempt, len(job.sample), str(job.sampling.get("guarantee", "")))


def _owned_submission(db: Database, submission_id: int, caller: User) -> Submission:
    with db.session() as session:
        submission = session.get(Submission, submission_id)
        refusal = crud.ownership_refusal(submission, submission_id, caller)
        if refusal is not None:
            raise ArtifactRejectedError(*refusal)
        assert submission is not None  # a refusal above otherwise
        if submission.verification != "unverified" and not caller.is_admin:
            raise ArtifactRejectedError(409, f"submission {submission_id} already has a policy (verification: "
                                             f"{submission.verification}); an admin can re-queue it")
        session.expunge(submission)
        return submission


def attach_artifact(db: Database, settings: Settings, submission_id: int, caller: User, data: bytes) -> Queued:
    """Check and store the artifact, then queue the verification; nothing is stored when it is refused."""
    submission = _owned_submission(db, submission_id, caller)
    return _store_and_queue(db, settings, submission, data, uploaded_by=caller.id, actor=caller.name)


def _store_and_queue(db: Database, settings: Settings, submission: Submission, data: bytes, *,
                     uploaded_by: int | None, actor: str) -> Queued:
    submission_id = submission.id
    checked = check_artifact(data, expected_sha256=submission.agent_sha256, max_bytes=settings.max_artifact_bytes)
    store = ArtifactStore(artifacts_root(settings))
    relative, created = store.put(checked)
    try:
        with db.write() as session:
            current = session.get(Submission, submission_id)
            if current is None:
                raise ArtifactRejectedError(404, f"no submission {submission_id}")
            if session.get(PolicyArtifact, checked.sha256) is None:
                session.add(PolicyArtifact(sha256=checked.sha256, format=checked.format,
                                           size_bytes=checked.size_bytes, path=relative, uploaded_by=uploaded_by,
                                           created_at=utcnow()))
                session.flush()
            job = jobs.enqueue(session, current, source="artifact", artifact_sha256=checked.sha256,
                               secret=sample_secret(settings), policy=sampling_policy(settings, current.protocol_id),
                               requested_by=actor)
            return _queued(job)
    except BaseException:
        if created:
            store.remove(relative)
        raise


def check_endpoint_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname if parts.port is None or parts.port > 0 else None
    except ValueError:  # an unclosed IPv6 bracket, a port out of range
        host = None
    if not host or parts.scheme not in ("ws", "wss") or len(url) > MAX_URL_CHARS:
        raise ArtifactRejectedError(422, f"the endpoint must be a ws:// or wss:// URL of a policy server "
                                         f"(openpi wire format, e.g. `vla-bench serve-policy`), not {url[:100]!r}")
    return url


def attach_endpoint(db: Database, settings: Settings, submission_id: int, caller: User, url: str,
                    api_key: str | None) -> Queued:
    """Queue a verification that calls the policy server at ``url`` (its API key stored encrypted)."""
    check_endpoint_url(url)
    _owned_submission(db, submission_id, caller)
    with db.write() as session:
        current = session.get(Submission, submission_id)
        if current is None:
            raise ArtifactRejectedError(404, f"no submission {submission_id}")
        job = jobs.enqueue(session, current, source="endpoint", endpoint_url=url,
                           endpoint_key=encrypt_key(settings, api_key) if api_key else None,
                           secret=sample_secret(settings), policy=sampling_policy(settings, current.protocol_id),
                           requested_by=caller.name)
        return _queued(job)


def requeue(db: Database, settings: Settings, submission_id: int, actor: str) -> Queued:
    """Admin: verify again with the policy of the latest job and a fresh secret sample."""
    with db.write() as session:
        current = session.get(Submission, submission_id)
        if current is None:
            raise ArtifactRejectedError(404, f"no submission {submission_id}")
        last = jobs.latest_job(session, submission_id)
        if last is None:
            raise ArtifactRejectedError(409, f"submission {submission_id} has no policy to verify with: its owner "
                                             "uploads one first (`vla-bench submit --artifact` or --endpoint)")
        job = jobs.enqueue(session, current, source=last.source, artifact_sha256=last.artifact_sha256,
                           endpoint_url=last.endpoint_url, endpoint_key=last.endpoint_key,
                           secret=sample_secret(settings), policy=sampling_policy(settings, current.protocol_id),
                           requested_by=actor)
        return _queued(job)


def queue_baselines(db: Database, settings: Settings, agents_dir: Path) -> list[tuple[int, str]]:
    """Queue the verification of every unverified reference baseline whose policy is a committed ONNX export
    (``agents_dir/NAME/model.onnx`` for ``baseline:NAME``): (submission id, what happened) for each baseline."""
    with db.session() as session:
        baselines = list(session.scalars(select(Submission).where(Submission.is_baseline.is_(True))
                                         .order_by(Submission.id)))
        session.expunge_all()
    report = []
    for submission in baselines:
        name = submission.agent_spec.removeprefix("baseline:")
        model = agents_dir / name / "model.onnx"
        if submission.verification != "unverified":
            report.append((submission.id, f"already {submission.verification}"))
        elif "/" in name or not model.is_file():
            report.append((submission.id, f"skipped: {submission.agent_spec} has no committed ONNX model"))
        else:
            try:
                queued = _store_and_queue(db, settings, submission, model.read_bytes(), uploaded_by=None,
                                          actor="results/")
                report.append((submission.id, f"queued: {queued.n_episodes} episodes ({model})"))
            except ArtifactRejectedError as exc:
                report.append((submission.id, f"refused: {exc.message}"))
    return report
