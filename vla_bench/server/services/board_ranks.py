"""Tie-aware rank ranges of a board, computed from the stored episodes and kept until the board changes.

Every pair on the board is tested (``scoring.ranking``: all pairs at once from one matrix, Holm over the whole
family), not only neighbours in score order: adjacent-only tests chain ties across entries that clearly
differ. The cost that matters is reading and parsing each entry's episodes, so two caches keep it to once per
entry per process: each entry's per-episode scores, keyed by (submission id, episodes hash), which never change
for a stored submission; and each board's result, keyed by its entries, so paging and sorting reuse it and a
new or moderated entry computes a new one. Boards past ``MAX_RANKED`` entries rank their best ``MAX_RANKED``
this way and show the plain position for the rest, which the page says: a tested entry's best rank is exact
(only entries scoring higher can be significantly better, and all of those were tested), its worst rank counts
the untested entries below as not separated from it (wider, never narrower, than a full test would give).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from vla_bench.scoring.ranking import EpisodeKey, RankedEntry, rank_ranges
from vla_bench.scoring.scores import episode_score
from vla_bench.server import crud
from vla_bench.server.core.lru import Lru
from vla_bench.spec import EpisodeRecord, Protocol

MAX_RANKED = 500  # entries ranked by paired tests on one board (500 entries: ~125k pairs, well under a second)
MAX_BOARDS = 64  # board results kept
MAX_EPISODE_VALUES = 8_000_000  # per-episode scores kept over all entries (~64 MB)

@dataclass(frozen=True)
class BoardRanks:
    ranges: dict[int, tuple[int, int]]  # submission id -> (best rank, worst rank)
    method: str
    n_ranked: int  # entries ranked by the tests (the best MAX_RANKED)
    n_entries: int


_Scores = tuple[tuple[EpisodeKey, ...], NDArray[np.float64]]
_SCORES: Lru[tuple[int, str], _Scores] = Lru(MAX_EPISODE_VALUES)
_BOARDS: Lru[tuple[object, ...], BoardRanks] = Lru(MAX_BOARDS)
_KEYS: dict[tuple[EpisodeKey, ...], tuple[EpisodeKey, ...]] = {}  # one shared tuple per episode plan


def clear_caches() -> None:
    _SCORES.clear()
    _BOARDS.clear()


def _episode_scores(protocol: Protocol, jsonl: str) -> _Scores:
    records = sorted((EpisodeRecord.from_json(json.loads(line)) for line in jsonl.splitlines() if line),
                     key=lambda r: r.key)
    keys = tuple(r.key for r in records)
    keys = _KEYS.setdefault(keys, keys) if len(_KEYS) < 1024 else keys
    return keys, np.array([episode_score(protocol, r) for r in records], dtype=np.float64)


def board_ranks(*, session: Session, protocol: Protocol, n_entries: int, verified_only: bool = False) -> BoardRanks:
    """Rank ranges of the board's best ``MAX_RANKED`` entries (``n_entries``: the board's size, for the worst ranks:
    entries below those tested are counted as not separated from them)."""
    rows = crud.board_rows(session=session, protocol_id=protocol.id, verified_only=verified_only,
                           limit=MAX_RANKED)
    board_key = (protocol.id, protocol.sha256(), verified_only, n_entries,
                 *((r.id, r.episodes_sha256, r.protocol_sha256, r.score_mean, r.score_low, r.score_high) for r in rows))
    cached = _BOARDS.get(board_key)
    if cached is not None:
        return cached
    scores: dict[int, _Scores | None] = {r.id: _SCORES.get((r.id, r.episodes_sha256)) for r in rows}
    missing = {submission_id for submission_id, found in scores.items() if found is None}
    for submission_id, jsonl in crud.episode_lines(session=session, submission_ids=sorted(missing)).items():
        scores[submission_id] = _episode_scores(protocol, jsonl)
    entries: list[RankedEntry] = []
    ids: list[int] = []
    for r in rows:
        found = scores[r.id]
        if found is None or r.score_mean is None:
            continue  # no episodes or no score: the page shows its plain position
        if r.id in missing:
            _SCORES.put((r.id, r.episodes_sha256), found, weight=max(1, found[1].size))
        entries.append(RankedEntry(r.id, found[0], found[1], r.score_mean, r.score_low, r.score_high,
                                   plan=r.protocol_sha256))
        ids.append(r.id)
    result = rank_ranges(protocol.primary_metric, entries)
    untested = max(0, n_entries - len(entries))
    ranges = {i: (result.ranges[i][0], result.ranges[i][1] + untested) for i in ids}
    ranked = BoardRanks(ranges, result.method, len(entries), n_entries)
    _BOARDS.put(board_key, ranked)
    return ranked
