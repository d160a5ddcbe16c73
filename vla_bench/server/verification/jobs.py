"""The verification queue in the database: enqueue with a secret sample, claim with a lease, renew, finish.

Claiming is safe with any number of workers on any number of machines. PostgreSQL: the candidate row is
read ``FOR UPDATE SKIP LOCKED`` (concurrent claimers skip it instead of queueing behind it). Both backends:
the claim itself is a conditional ``UPDATE ... WHERE id = :id AND <still claimable>`` whose row count says
whether this worker won; SQLite serializes such writers (``BEGIN IMMEDIATE``). A job is claimable when
queued, or running with an expired lease (its worker died): it is then re-claimed, and the dead worker's
late result is refused because its lease no longer names it. Leases are in the database's terms
(timestamps written by the workers: keep the machines' clocks in sync, as NTP does).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Result, and_, func, or_, select, update
from sqlalchemy.orm import Session

from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import full_plan
from vla_bench.server import crud
from vla_bench.server.core.db import Database
from vla_bench.server.models import Submission, VerificationJob, utcnow
from vla_bench.server.verification.sampling import SamplingPolicy, choose_sample, describe, sample_size

MAX_CLAIMS = 3  # a job whose worker died this many times is given up as inconclusive (a poison job)
ACTIVE = ("queued", "running")


def enqueue(session: Session, submission: Submission, *, source: str, secret: bytes, policy: SamplingPolicy,
            requested_by: str | None, artifact_sha256: str | None = None, endpoint_url: str | None = None,
            endpoint_key: str | None = None) -> VerificationJob:
    """A new job for ``submission`` with a fresh secret sample; earlier active jobs are superseded."""
    attempt = (session.scalar(select(func.max(VerificationJob.attempt))
                              .where(VerificationJob.submission_id == submission.id)) or 0) + 1
    session.execute(update(VerificationJob).where(VerificationJob.submission_id == submission.id,
                                                  VerificationJob.state.in_(ACTIVE))
                    .values(state="superseded", lease_owner=None))
    protocol = get_protocol(submission.protocol_id, allow_deprecated=True)
    keys = [spec.key for spec in full_plan(protocol)]
    size = sample_size(len(keys), policy)
    sample = choose_sample(secret, submission.id, attempt, keys, size)
    job = VerificationJob(
        submission_id=submission.id, attempt=attempt, state="queued", source=source,
        artifact_sha256=artifact_sha256, endpoint_url=endpoint_url, endpoint_key=endpoint_key,
        sample=[list(key) for key in sample], sampling=dict(describe(len(keys), size, policy)), claims=0,
        created_at=utcnow(), requested_by=requested_by,
    )
    session.add(job)
    submission.verification = "verifying"
    crud.record_event(session=session, submission=submission, state="verification_queued", actor=requested_by,
                      note=f"attempt {attempt}: {size} of {len(keys)} episodes will be re-run ({source})")
    session.flush()
    return job


def _rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE matched (a DML statement's result is a CursorResult)."""
    return int(cast(CursorResult[Any], result).rowcount)


def _claimable(now: dt.datetime) -> ColumnElement[bool]:
    return or_(VerificationJob.state == "queued",
               and_(VerificationJob.state == "running", VerificationJob.lease_expires_at < now))


@dataclass(frozen=True)
class Claim:
    job_id: int
    submission_id: int
    attempt: int
    owner: str
    claims: int


def claim(db: Database, owner: str, lease_s: float) -> Claim | None:
    """Take the oldest claimable job for ``owner`` until now + ``lease_s``, or None when there is none."""
    _give_up_poison_jobs(db)
    with db.write() as session:
        now = utcnow()
        candidates = (select(VerificationJob.id).where(_claimable(now)).order_by(VerificationJob.id).limit(5))
        if db.backend == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        for job_id in session.scalars(candidates).all():
            won = _rowcount(session.execute(
                update(VerificationJob).where(VerificationJob.id == job_id, _claimable(now))
                .values(state="running", lease_owner=owner, lease_expires_at=now + dt.timedelta(seconds=lease_s),
                        claims=VerificationJob.claims + 1, started_at=func.coalesce(VerificationJob.started_at, now))
                .execution_options(synchronize_session=False)
            ))
            if won == 1:
                job = session.get(VerificationJob, job_id, populate_existing=True)
                assert job is not None
                return Claim(job_id, job.submission_id, job.attempt, owner, job.claims)
    return None


def _give_up_poison_jobs(db: Database) -> None:
    with db.write() as session:
        now = utcnow()
        stuck = session.scalars(select(VerificationJob).where(
            VerificationJob.state == "running", VerificationJob.lease_expires_at < now,
            VerificationJob.claims >= MAX_CLAIMS)).all()
        for job in stuck:
            _close(session, job, "inconclusive", f"the verification's worker stopped {job.claims} times without "
                                                 "finishing (killed or out of memory?); re-queue to try again", None)


def renew(db: Database, claim_: Claim, lease_s: float) -> bool:
    """Extend the lease; False when this worker no longer holds the job (it expired and was re-claimed)."""
    with db.write() as session:
        now = utcnow()
        done = _rowcount(session.execute(
            update(VerificationJob).where(VerificationJob.id == claim_.job_id, VerificationJob.state == "running",
                                          VerificationJob.lease_owner == claim_.owner)
            .values(lease_expires_at=now + dt.timedelta(seconds=lease_s))
            .execution_options(synchronize_session=False)))
    return done == 1


def finish(db: Database, claim_: Claim, outcome: str, message: str, evidence: dict[str, object] | None) -> bool:
    """Record the outcome, if this worker still holds the job (else nothing is written: False)."""
    with db.write() as session:
        job = session.scalar(select(VerificationJob).where(
            VerificationJob.id == claim_.job_id, VerificationJob.state == "running",
            VerificationJob.lease_owner == claim_.owner))
        if job is None:
            return False
        _close(session, job, outcome, message, evidence)
        return True


def _close(session: Session, job: VerificationJob, outcome: str, message: str,
           evidence: dict[str, object] | None) -> None:
    job.state, job.outcome, job.message, job.evidence = "done", outcome, message, evidence
    job.finished_at, job.lease_owner = utcnow(), None
    submission = session.get(Submission, job.submission_id)
    if submission is None:
        return
    newest = session.scalar(select(func.max(VerificationJob.attempt))
                            .where(VerificationJob.submission_id == job.submission_id))
    if newest != job.attempt:
        return  # superseded by a re-queue: the newer job decides the submission's state
    submission.verification = outcome
    submission.is_verified = outcome == "verified"
    crud.record_event(session=session, submission=submission, state=outcome, actor="verifier", note=message[:2000])


def latest_job(session: Session, submission_id: int) -> VerificationJob | None:
    return session.scalar(select(VerificationJob).where(VerificationJob.submission_id == submission_id)
                          .order_by(VerificationJob.attempt.desc()).limit(1))
