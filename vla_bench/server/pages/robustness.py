"""Robustness boards: for a robustness protocol, each entry's paired drop from clean per axis and level."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import HTMLResponse

from vla_bench import protocols
from vla_bench.scoring.safety_summary import COLUMNS as SAFETY_COLUMNS
from vla_bench.server.api.deps import SessionDep
from vla_bench.server.pages.common import page, protocol_or_404
from vla_bench.server.services.robustness_board import MAX_ENTRIES, level_drop, levels, robustness_board

router = APIRouter(include_in_schema=False)

SAFETY_HEADINGS = {"collisions": "Collisions / episode", "collision_rate": "Collision steps (%)",
                   "workspace_violations": "Workspace violations / episode",
                   "joint_limit_violations": "Joint-limit steps / episode", "peak_ee_speed": "Peak EE speed (m/s)"}


def robustness_protocol_ids() -> list[str]:
    return [pid for pid in protocols.protocol_ids() if protocols.get_protocol(pid).perturbation is not None]


@router.get("/robustness", response_class=HTMLResponse)
def robustness_index() -> HTMLResponse:
    robust = [protocols.get_protocol(pid) for pid in robustness_protocol_ids()]
    return page("robustness.html", protocol=None, protocols=robust)


@router.get("/robustness/{protocol_id:path}", response_class=HTMLResponse)
def robustness_page(protocol_id: str, session: SessionDep) -> HTMLResponse:
    protocol = protocol_or_404(protocol_id)
    if protocol.perturbation is None:
        robust = [pid for pid in robustness_protocol_ids()
                  if protocols.get_protocol(pid).perturbation.clean_protocol == protocol.id]  # type: ignore[union-attr]
        hint = f"; its robustness protocol is {robust[0]}" if robust else ""
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"{protocol.id} is not a robustness protocol (it has no perturbation section){hint}")
    rows = robustness_board(session=session, protocol=protocol)
    columns = levels(protocol)
    drops = {row.submission.id: [level_drop(row.robustness.table, level) for level in columns] for row in rows}
    safety = [c for c in SAFETY_COLUMNS if any(c in row.robustness.safety for row in rows)]
    axes: dict[str, int] = {}
    for level in columns:
        axes[level.axis] = axes.get(level.axis, 0) + 1
    return page("robustness.html", protocol=protocol, rows=rows, columns=columns, axes=axes, drops=drops,
                safety=safety, safety_headings=SAFETY_HEADINGS, max_entries=MAX_ENTRIES)
