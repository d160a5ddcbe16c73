"""Multi-run entries of a board: one method's training runs (seeds) scored together, as rliable argues.

A bundle declares which training run produced its agent (``agent.training``: a group name and a seed). The
board's published entries of one owner (a user, or the reference baselines) that share a group form one
multi-run entry once they hold at least two different seeds; for each seed the latest submission counts. The
score is ``scoring.multirun``'s: the mean and IQM of the runs x tasks matrix of per-task scores, with
stratified-bootstrap intervals over runs within each task. Each entry is still validated and recomputed as
its own bundle; the group only adds this aggregate. Results are kept per group until one of its runs changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy.orm import Session

from vla_bench.scoring.multirun import MultirunJson, multirun_aggregate
from vla_bench.server import crud
from vla_bench.server.core.lru import Lru
from vla_bench.server.models import Submission
from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.errors import UserError

MAX_RUNS = 50  # runs of one group scored together (the latest seeds)
MAX_GROUPS = 256  # group results kept in this process


@dataclass(frozen=True)
class RunGroup:
    group: str
    owner: str  # the submitting user's name, or "baseline"
    runs: list[Submission]  # one per seed, the latest, in seed order
    aggregate: MultirunJson | None
    problem: str | None  # why there is no aggregate (e.g. a run that misses a task)


_RESULTS: Lru[tuple[object, ...], tuple[MultirunJson | None, str | None]] = Lru(MAX_GROUPS)


def clear_caches() -> None:
    _RESULTS.clear()


def _owner(submission: Submission) -> str:
    if submission.is_baseline:
        return "baseline"
    return submission.user.name if submission.user is not None else "unknown"


def run_groups(*, session: Session, protocol: Protocol, verified_only: bool = False) -> list[RunGroup]:
    """The board's multi-run entries (groups with two or more seeds), best mean first."""
    latest: dict[tuple[str, str], dict[int, Submission]] = {}
    for submission in crud.training_runs(session=session, protocol_id=protocol.id, verified_only=verified_only):
        assert submission.training_group is not None and submission.training_seed is not None
        seeds = latest.setdefault((_owner(submission), submission.training_group), {})
        if len(seeds) < MAX_RUNS:
            seeds.setdefault(submission.training_seed, submission)  # the first seen is the latest
    groups = []
    for (owner, group), by_seed in latest.items():
        if len(by_seed) < 2:
            continue
        runs = [by_seed[seed] for seed in sorted(by_seed)]
        key = (protocol.sha256(), *((run.id, run.episodes_sha256) for run in runs))
        cached = _RESULTS.get(key)
        if cached is None:
            cached = _score(session, protocol, runs)
            _RESULTS.put(key, cached)
        groups.append(RunGroup(group, owner, runs, *cached))
    return sorted(groups, key=lambda g: -(g.aggregate["mean"]["mean"] if g.aggregate else float("-inf")))


def _score(session: Session, protocol: Protocol, runs: list[Submission]) -> tuple[MultirunJson | None, str | None]:
    lines = crud.episode_lines(session=session, submission_ids=[run.id for run in runs])
    records = [[EpisodeRecord.from_json(json.loads(line)) for line in lines.get(run.id, "").splitlines() if line]
               for run in runs]
    try:
        return multirun_aggregate(protocol, records), None
    except UserError as exc:
        return None, str(exc)
