"""The overview: every benchmark and its protocols, with each board's size and best entry."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import HTMLResponse

from vla_bench.harness import registry
from vla_bench.server import crud
from vla_bench.server.api.deps import SessionDep
from vla_bench.server.models import Submission
from vla_bench.server.pages.common import page
from vla_bench.spec import Protocol

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class BoardRow:
    protocol: Protocol
    n_entries: int
    best: Submission | None


@router.get("/", response_class=HTMLResponse)
def overview(session: SessionDep, benchmark: str | None = None) -> HTMLResponse:
    names = registry.benchmark_names()
    if benchmark is not None and benchmark not in names:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no benchmark {benchmark!r}; benchmarks: {', '.join(names)}")
    summaries = crud.board_summaries(session=session)
    groups = []
    for name in names if benchmark is None else [benchmark]:
        rows = []
        for protocol_id in registry.protocol_ids(name):
            found = summaries.get(protocol_id)
            rows.append(BoardRow(registry.get_protocol(protocol_id, allow_deprecated=True),
                                 found.n_entries if found else 0, found.best if found else None))
        groups.append({"name": name, "description": registry.benchmark_description(name), "boards": rows})
    return page("overview.html", groups=groups, benchmarks=names, selected=benchmark)
