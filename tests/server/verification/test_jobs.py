"""The job queue: one claimer wins a job however many race for it, an expired lease is re-claimed and the
old holder's late result is refused, a job whose workers keep dying is given up, a re-queue supersedes."""

from __future__ import annotations

import datetime as dt
import threading

from leaderboard_testing import Server, TestClient
from sqlalchemy import update
from verification_testing import SUBMISSIONS, ppo_document, ppo_model

from vla_bench.server.models import Submission, VerificationJob
from vla_bench.server.verification import jobs


def _queued(client: TestClient, server: Server) -> int:
    submission = client.post(SUBMISSIONS, json=ppo_document(), headers=server.user).json()["id"]
    assert client.put(f"{SUBMISSIONS}/{submission}/artifact", content=ppo_model(),
                      headers=server.user).status_code == 202
    return int(submission)


def _expire(server: Server, job_id: int) -> None:
    with server.db.write() as session:
        session.execute(update(VerificationJob).where(VerificationJob.id == job_id)
                        .values(lease_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))


def test_racing_claimers_get_the_job_exactly_once(vclient: TestClient, vserver: Server) -> None:
    _queued(vclient, vserver)
    barrier, won = threading.Barrier(6), []

    def race(name: str) -> None:
        barrier.wait()
        claim = jobs.claim(vserver.db, name, 60)
        if claim is not None:
            won.append(claim)

    threads = [threading.Thread(target=race, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and won[0].claims == 1
    assert jobs.claim(vserver.db, "late", 60) is None  # held: nobody else gets it


def test_an_expired_lease_is_reclaimed_and_the_old_holders_result_refused(vclient: TestClient,
                                                                          vserver: Server) -> None:
    submission = _queued(vclient, vserver)
    first = jobs.claim(vserver.db, "dead-worker", 60)
    assert first is not None and jobs.renew(vserver.db, first, 60)
    _expire(vserver, first.job_id)
    second = jobs.claim(vserver.db, "live-worker", 60)
    assert second is not None and second.job_id == first.job_id and second.claims == 2
    assert not jobs.renew(vserver.db, first, 60)
    assert not jobs.finish(vserver.db, first, "verified", "late and wrong", {})
    assert jobs.finish(vserver.db, second, "verification_failed", "the real one", {"x": 1})
    assert not jobs.finish(vserver.db, second, "verified", "twice", {})  # finishes once
    with vserver.db.session() as session:
        assert session.get(Submission, submission).verification == "verification_failed"  # type: ignore[union-attr]
    state = vclient.get(f"{SUBMISSIONS}/{submission}/verification").json()
    assert state["job"]["message"] == "the real one" and state["job"]["sample"] is not None


def test_a_job_whose_workers_keep_dying_is_given_up_as_inconclusive(vclient: TestClient, vserver: Server) -> None:
    submission = _queued(vclient, vserver)
    for attempt in range(jobs.MAX_CLAIMS):
        claim = jobs.claim(vserver.db, f"doomed-{attempt}", 60)
        assert claim is not None
        _expire(vserver, claim.job_id)
    assert jobs.claim(vserver.db, "next", 60) is None
    state = vclient.get(f"{SUBMISSIONS}/{submission}/verification").json()
    assert state["verification"] == "inconclusive" and "stopped 3 times" in state["job"]["message"]


def test_a_requeue_supersedes_the_running_job(vclient: TestClient, vserver: Server) -> None:
    submission = _queued(vclient, vserver)
    old = jobs.claim(vserver.db, "w", 60)
    assert old is not None
    assert vclient.post(f"{SUBMISSIONS}/{submission}/verification", headers=vserver.admin).status_code == 202
    assert not jobs.finish(vserver.db, old, "verified", "stale", {})
    new = jobs.claim(vserver.db, "w2", 60)
    assert new is not None and new.attempt == 2
