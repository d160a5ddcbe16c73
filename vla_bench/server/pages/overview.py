"""The overview: boards with entries first (each with its size and best entry), the latest submissions, and
the boards nobody has entered yet folded behind a toggle (most protocols start empty, and listing them first
pushed every populated board thousands of pixels down)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import HTMLResponse

from vla_bench import protocols
from vla_bench.server import crud
from vla_bench.server.api.deps import SessionDep
from vla_bench.server.models import Submission
from vla_bench.server.pages.common import page
from vla_bench.spec import Protocol

router = APIRouter(include_in_schema=False)
RECENT = 10


@dataclass(frozen=True)
class BoardRow:
    protocol: Protocol
    n_entries: int
    best: Submission | None


@dataclass(frozen=True)
class BenchmarkGroup:
    name: str
    description: str
    populated: list[BoardRow]
    empty: list[BoardRow]


@router.get("/", response_class=HTMLResponse)
def overview(session: SessionDep, benchmark: str | None = None) -> HTMLResponse:
    names = protocols.benchmark_names()
    if benchmark is not None and benchmark not in names:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no benchmark {benchmark!r}; benchmarks: {', '.join(names)}")
    summaries = crud.board_summaries(session=session)
    groups = []
    for name in names if benchmark is None else [benchmark]:
        rows = []
        for protocol_id in protocols.protocol_ids(name):
            found = summaries.get(protocol_id)
            rows.append(BoardRow(protocols.get_protocol(protocol_id, allow_deprecated=True),
                                 found.n_entries if found else 0, found.best if found else None))
        groups.append(BenchmarkGroup(name, protocols.benchmark_description(name),
                                     [r for r in rows if r.n_entries], [r for r in rows if not r.n_entries]))
    recent = crud.recent_submissions(session=session, limit=RECENT, benchmark=benchmark)
    return page("overview.html", populated=[g for g in groups if g.populated],
                unpopulated=[g for g in groups if not g.populated], n_empty=sum(len(g.empty) for g in groups),
                benchmarks=names, selected=benchmark, recent=recent)
