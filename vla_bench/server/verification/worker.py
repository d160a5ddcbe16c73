"""The verify-worker loop: claim a job, re-run its secret sample with the harness, compare, record the evidence.

While a job runs, a heartbeat thread renews its lease every third of the lease; a worker that is killed
stops renewing, so its job is claimed again once the lease expires, and whatever the dead worker might still
write is refused (:func:`jobs.finish` checks the lease names it).
"""

from __future__ import annotations

import logging
import os
import platform
import socket
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from vla_bench.protocols import get_protocol
from vla_bench.server import crud
from vla_bench.server.core.config import Settings
from vla_bench.server.core.db import Database
from vla_bench.server.models import PolicyArtifact, Submission, SubmissionBundle, VerificationJob
from vla_bench.server.verification import jobs
from vla_bench.server.verification.artifacts import ArtifactStore
from vla_bench.server.verification.compare import Tolerance, compare
from vla_bench.server.verification.config import artifacts_root, decrypt_key
from vla_bench.spec import EpisodeRecord

log = logging.getLogger("vla_bench.server.verification")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class WorkerOptions:
    lease_s: float = 300.0
    poll_s: float = 2.0
    once: bool = False  # stop when the queue is empty
    max_jobs: int | None = None
    workers: int = 1  # env worker processes per job
    envs_per_worker: int = 8
    tolerance: Tolerance = field(default_factory=Tolerance)
    alpha: float = 0.01


class _Heartbeat(threading.Thread):
    def __init__(self, db: Database, claim: jobs.Claim, lease_s: float) -> None:
        super().__init__(name="verify-lease", daemon=True)
        self.db, self.claim, self.lease_s = db, claim, lease_s
        self.stop = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self.stop.wait(self.lease_s / 3):
            try:
                if not jobs.renew(self.db, self.claim, self.lease_s):
                    self.lost = True
                    log.warning("lost the lease of job %s", self.claim.job_id)
                    return
            except Exception:  # a database hiccup: try again at the next beat; the lease has slack
                log.exception("renewing the lease of job %s failed", self.claim.job_id)


def _load(db: Database, claim: jobs.Claim) -> tuple[VerificationJob, Submission, dict[str, Any],
                                                    dict[tuple[str, int], EpisodeRecord], PolicyArtifact | None]:
    with db.session() as session:
        job = session.get(VerificationJob, claim.job_id)
        submission = session.get(Submission, claim.submission_id)
        bundle = session.get(SubmissionBundle, claim.submission_id)
        if job is None or submission is None or bundle is None:
            raise LookupError(f"job {claim.job_id} or its submission {claim.submission_id} is gone")
        records = {r.key: r for r in crud.episode_records(session=session, submission_id=submission.id)}
        artifact = session.get(PolicyArtifact, job.artifact_sha256) if job.artifact_sha256 else None
        session.expunge_all()
        return job, submission, dict(bundle.summary), records, artifact


def verify_job(db: Database, settings: Settings, claim: jobs.Claim, options: WorkerOptions) -> tuple[str, str,
                                                                                                    dict[str, object]]:
    """(outcome, message, evidence) of one claimed job."""
    from vla_bench.server.verification import rerun  # noqa: PLC0415 - the harness, in the worker only

    job, submission, summary, claimed, artifact = _load(db, claim)
    protocol = get_protocol(submission.protocol_id, allow_deprecated=True)
    if protocol.sha256() != submission.protocol_sha256:
        return ("inconclusive", f"this worker's {protocol.id} has hash {protocol.sha256()[:12]}, the submission's "
                                f"{submission.protocol_sha256[:12]}: update the worker's vla-bench", {})
    if job.source == "artifact":
        if artifact is None:
            raise LookupError(f"job {job.id} names no stored artifact")
        path = ArtifactStore(artifacts_root(settings)).read_verified(artifact.path, artifact.sha256)
        agent = rerun.artifact_agent(path, artifact.sha256, summary["agent"])
    else:
        key = decrypt_key(settings, job.endpoint_key) if job.endpoint_key else None
        agent = rerun.endpoint_agent(str(job.endpoint_url), key)
    keys = [(str(task), int(index)) for task, index in job.sample]
    result = rerun.rerun_episodes(protocol, agent, keys, workers=options.workers,
                                  envs_per_worker=options.envs_per_worker)
    stochastic = bool((summary["agent"].get("details") or {}).get("stochastic"))
    verdict = compare(claimed, result.records, claimed_provenance=summary.get("provenance") or {},
                      verifier_provenance=result.provenance, stochastic=stochastic, tolerance=options.tolerance,
                      alpha=options.alpha)
    claimed_wall = sum(float(claimed[k].timings.get("wall_s", 0.0)) for k in keys if k in claimed)
    evidence: dict[str, object] = {
        "rerun": [list(k) for k in keys], "episodes": verdict.episodes,
        "mismatched": [list(k) for k in verdict.mismatched], "max_abs_return_diff": verdict.max_abs_return_diff,
        "version_differences": verdict.version_differences, "stochastic": stochastic, "test": verdict.test,
        "tolerance": {"rel": options.tolerance.rel, "abs": options.tolerance.abs},
        "worker": {"id": claim.owner, "host": platform.node(), "claim": claim.claims,
                   "provenance": result.provenance},
        "seconds": round(result.seconds, 3), "claimed_wall_s_of_sample": round(claimed_wall, 3),
    }
    return verdict.outcome, verdict.message, evidence


def run_one(db: Database, settings: Settings, owner: str, options: WorkerOptions) -> int | None:
    """Claim and finish one job; its id, or None when the queue had none."""
    claim = jobs.claim(db, owner, options.lease_s)
    if claim is None:
        return None
    log.info("job %s (submission %s, attempt %s) claimed by %s", claim.job_id, claim.submission_id, claim.attempt,
             owner)
    beat = _Heartbeat(db, claim, options.lease_s)
    beat.start()
    try:
        outcome, message, evidence = verify_job(db, settings, claim, options)
    except Exception as exc:  # the verifier's own failure is never the submitter's: inconclusive, with the reason
        log.exception("job %s failed", claim.job_id)
        outcome, message, evidence = "inconclusive", f"the verifier failed: {type(exc).__name__}: {exc}", {}
    finally:
        beat.stop.set()
        beat.join()
    if not jobs.finish(db, claim, outcome, message, evidence):
        log.warning("job %s: the lease was lost before finishing; the result was not recorded", claim.job_id)
    else:
        log.info("job %s: %s: %s", claim.job_id, outcome, message)
    return claim.job_id


def run_worker(settings: Settings, options: WorkerOptions, stop: threading.Event | None = None) -> int:
    """Serve the queue until ``stop`` is set (or, with ``once``, until it is empty); the number of jobs done."""
    db = Database(settings.database_url)
    owner, done = worker_id(), 0
    stop = stop or threading.Event()
    try:
        while not stop.is_set() and (options.max_jobs is None or done < options.max_jobs):
            if run_one(db, settings, owner, options) is not None:
                done += 1
            elif options.once:
                break
            else:
                stop.wait(options.poll_s)
    finally:
        db.dispose()
    return done
