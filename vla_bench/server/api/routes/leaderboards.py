"""Leaderboards: one per protocol, ranked by the protocol's primary metric."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from vla_bench import protocols
from vla_bench.server import crud
from vla_bench.server.api.deps import BaseUrlDep, SessionDep, SettingsDep
from vla_bench.server.api.routes.protocols import known_protocol
from vla_bench.server.schemas import (
    BoardPublic,
    ErrorPublic,
    LeaderboardEntry,
    LeaderboardPage,
    ProtocolPublic,
    SubmissionListItem,
)
from vla_bench.server.services.board_ranks import board_ranks

router = APIRouter(prefix="/leaderboards", tags=["leaderboards"])
MAX_OFFSET = 10**9  # a 64-bit OFFSET with room to spare; larger is refused with 422, not sent to the database


@router.get("", response_model=list[BoardPublic])
def list_leaderboards(session: SessionDep, base_url: BaseUrlDep, benchmark: str | None = None) -> list[BoardPublic]:
    """Every protocol's board (of one benchmark with ``?benchmark=``): number of entries and the best one."""
    summaries = crud.board_summaries(session=session)
    boards = []
    for protocol_id in protocols.protocol_ids(benchmark):
        found = summaries.get(protocol_id)
        best = SubmissionListItem.of(found.best, base_url) if found and found.best else None
        boards.append(BoardPublic(protocol_id=protocol_id, benchmark=protocol_id.split("/", 1)[0],
                                  n_entries=found.n_entries if found else 0, best=best,
                                  leaderboard_url=f"{base_url}/leaderboard/{protocol_id}"))
    return boards


@router.get("/{protocol_id:path}", response_model=LeaderboardPage, responses={404: {"model": ErrorPublic}})
def read_leaderboard(
    *,
    protocol_id: str, session: SessionDep, settings: SettingsDep, base_url: BaseUrlDep,
    sort: crud.SortKey = "score",
    order: crud.SortOrder | None = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
    verified: Annotated[bool, Query(description="only entries verified by re-running a secret sample")] = False,
) -> LeaderboardPage:
    """Published, visible entries of one protocol. ``sort``: score (the primary metric's mean over tasks),
    iqm, date, agent or episodes; ``order`` defaults to the natural one (best / newest first). Each entry
    carries its tie-aware rank range (``rank_low``..``rank_high``, the same as the board page's), the page
    names the method (``rank_method``)."""
    protocol = known_protocol(protocol_id)
    order = order or crud.DEFAULT_ORDER[sort]
    limit = limit or settings.page_size
    total, entries = crud.leaderboard(session=session, protocol_id=protocol.id, sort=sort, order=order,
                                      offset=offset, limit=limit, verified_only=verified)
    ranks = board_ranks(session=session, protocol=protocol, n_entries=total, verified_only=verified) if total else None
    ranges = ranks.ranges if ranks else {}
    return LeaderboardPage(
        protocol=ProtocolPublic.of(protocol, base_url), count=total, offset=offset, limit=limit, sort=sort,
        order=order, rank_method=ranks.method if ranks else None, n_ranked=ranks.n_ranked if ranks else 0,
        data=[LeaderboardEntry.ranked(e.submission, e.rank, base_url, ranges.get(e.submission.id))
              for e in entries],
    )
