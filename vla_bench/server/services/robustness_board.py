"""A robustness protocol's board as axes x entries: each entry's paired drops from its own clean arm.

Every arm of a robustness protocol runs the clean arm's episodes, so each entry's table comes from its own
bundle alone (``scoring.robustness``: per axis and level the score and the paired-bootstrap drop, and the
aggregate robustness score), plus its safety totals where the simulator records them
(``scoring.safety_summary``). A stored submission never changes, so each entry's table is computed once per
process, keyed by (submission id, episodes hash); the board shows its best ``MAX_ENTRIES`` entries by score.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from vla_bench.scoring.robustness import DropEstimate, PairingError, RobustnessJson, robustness_scores
from vla_bench.scoring.safety_summary import COLUMNS as SAFETY_COLUMNS
from vla_bench.scoring.safety_summary import safety_summary
from vla_bench.server import crud
from vla_bench.server.core.lru import Lru
from vla_bench.server.models import Submission
from vla_bench.spec import EpisodeRecord, Protocol

MAX_ENTRIES = 50  # entries on one robustness board (each table is a bootstrap over the entry's episodes)
MAX_TABLES = 2048  # entry tables kept in this process


@dataclass(frozen=True)
class EntryRobustness:
    """One entry's robustness table (``robustness_scores``' result) or why there is none, and its safety means."""

    table: RobustnessJson | None
    problem: str | None
    safety: dict[str, float]  # safety column -> mean per episode over every task that records it


@dataclass(frozen=True)
class RobustnessRow:
    submission: Submission
    robustness: EntryRobustness


@dataclass(frozen=True)
class Level:
    axis: str
    description: str
    level: int


_TABLES: Lru[tuple[int, str], EntryRobustness] = Lru(MAX_TABLES)


def clear_caches() -> None:
    _TABLES.clear()


def entry_robustness(protocol: Protocol, records: list[EpisodeRecord]) -> EntryRobustness:
    try:
        table, problem = robustness_scores(protocol, records), None
    except PairingError as exc:
        table, problem = None, f"not computed: {exc}"
    safety: dict[str, float] = {}
    per_task = safety_summary(records)
    if per_task:
        weights = np.array([entry["n"] for entry in per_task.values()], dtype=np.float64)
        for column in SAFETY_COLUMNS:
            means = np.array([entry[column]["mean"] for entry in per_task.values()], dtype=np.float64)
            safety[column] = float(np.average(means, weights=weights))
    return EntryRobustness(table, problem, safety)


def robustness_board(*, session: Session, protocol: Protocol) -> list[RobustnessRow]:
    """The best ``MAX_ENTRIES`` entries of a robustness protocol's board, each with its robustness table."""
    rows = crud.board_rows(session=session, protocol_id=protocol.id, limit=MAX_ENTRIES)
    found = {r.id: _TABLES.get((r.id, r.episodes_sha256)) for r in rows}
    missing = sorted(i for i, table in found.items() if table is None)
    digests = {r.id: r.episodes_sha256 for r in rows}
    for submission_id, jsonl in crud.episode_lines(session=session, submission_ids=missing).items():
        records = [EpisodeRecord.from_json(json.loads(line)) for line in jsonl.splitlines() if line]
        table = found[submission_id] = entry_robustness(protocol, records)
        _TABLES.put((submission_id, digests[submission_id]), table)
    board = []
    for r in rows:
        submission = crud.get_submission(session=session, submission_id=r.id)
        robustness = found.get(r.id)
        if submission is not None and robustness is not None:
            board.append(RobustnessRow(submission, robustness))
    return board


def levels(protocol: Protocol) -> list[Level]:
    """The columns of the board: every (axis, level) the protocol declares, in its order."""
    assert protocol.perturbation is not None
    return [Level(axis.name, axis.description, number)
            for axis in protocol.perturbation.axes for number in range(1, len(axis.levels) + 1)]


def level_drop(table: RobustnessJson | None, level: Level) -> DropEstimate | None:
    """The paired drop of one (axis, level) in an entry's table, if that level ran on every paired task."""
    axis = table["axes"].get(level.axis) if table is not None else None
    for found in axis["levels"] if axis is not None else []:
        if found["level"] == level.level:
            return found["drop"].copy()
    return None
