"""Every board as a file: ``/leaderboard/{protocol}.csv`` and ``.json`` (``?verified=1`` as on the page).

One row per entry in the board's order (best score first), with the raw numbers (no rounding, no percent
signs), the tie-aware rank range shown on the page, one mean/low/high triple per task on multi-task
boards, and the safety means (``safety_*``) on boards whose simulator records them. These routes must be
registered before the board page's ``{protocol_id:path}`` route, which would otherwise read ``hopper@v1.csv``
as a protocol name.
"""

from __future__ import annotations

import csv
import io
import json

from fastapi import APIRouter, Response
from sqlalchemy.orm import Session

from vla_bench.server import crud
from vla_bench.server.api.deps import BaseUrlDep, SessionDep
from vla_bench.server.pages.common import protocol_or_404
from vla_bench.server.services.board_ranks import board_ranks
from vla_bench.spec import Protocol
from vla_bench.web.safety import COLUMNS as SAFETY_COLUMNS
from vla_bench.web.safety import FORCE_THRESHOLD_N

router = APIRouter(include_in_schema=False)
CHUNK = 500  # entries read per query (bundle scores are the bulky part)
FIELDS = ("position", "rank", "rank_best", "rank_worst", "submission_id", "agent", "score_mean", "score_low",
          "score_high", "iqm_mean", "iqm_low", "iqm_high", "n_episodes", "n_errors", "submitted_by", "baseline",
          "verification", "submitted_at", "url")
# Boards whose simulator records safety: the server's means per episode (web.safety), empty where an entry has none.
Cell = str | int | float | None  # a value of a board row (bool is an int)
SAFETY_FIELDS = ("safety_episodes", *(f"safety_{c.key}" for c in SAFETY_COLUMNS), "safety_max_peak_ee_speed")


def _entry(position: int, entry: crud.RankedEntry, rank_range: tuple[int, int] | None,
           base_url: str) -> dict[str, Cell]:
    s = entry.submission
    return {
        "position": position, "rank": entry.rank, "rank_best": rank_range[0] if rank_range else None,
        "rank_worst": rank_range[1] if rank_range else None, "submission_id": s.id, "agent": s.agent_name,
        "score_mean": s.score_mean, "score_low": s.score_low, "score_high": s.score_high, "iqm_mean": s.iqm_mean,
        "iqm_low": s.iqm_low, "iqm_high": s.iqm_high, "n_episodes": s.n_episodes, "n_errors": s.n_errors,
        "submitted_by": s.user.name if s.user else "vla-bench", "baseline": s.is_baseline,
        "verification": s.verification, "submitted_at": s.submitted_at.isoformat(),
        "url": f"{base_url}/submissions/{s.id}",
    }


def _task_values(protocol: Protocol, scores: object) -> dict[str, float | None]:
    """An entry's per-task columns from its stored scores (``None`` where it has none)."""
    tasks = scores.get("tasks") if isinstance(scores, dict) else None
    values: dict[str, float | None] = {}
    for name in protocol.task_names:
        task = tasks.get(name) if isinstance(tasks, dict) else None
        estimate = task.get(protocol.primary_metric) if isinstance(task, dict) else None
        estimate = estimate if isinstance(estimate, dict) else {}
        low, high = (estimate.get("ci95") or [None, None])[:2]
        values.update({f"{name}:mean": estimate.get("mean"), f"{name}:low": low, f"{name}:high": high})
    return values


def _safety_values(safety: dict[str, float] | None) -> dict[str, float | None]:
    found = safety or {}
    return {"safety_episodes": found.get("n"),
            **{f"safety_{c.key}": found.get(c.key) for c in SAFETY_COLUMNS},
            "safety_max_peak_ee_speed": found.get("max_peak_ee_speed")}


def board_rows(session: Session, protocol: Protocol, *, verified_only: bool, base_url: str,
               safety: bool = False) -> list[dict[str, Cell]]:
    """The whole board, best first, as flat rows (``safety``: with the safety fields)."""
    total, _ = crud.leaderboard(session=session, protocol_id=protocol.id, limit=1, verified_only=verified_only)
    ranks = board_ranks(session=session, protocol=protocol, n_entries=total, verified_only=verified_only) \
        if total else None
    rows = []
    for offset in range(0, total, CHUNK):
        _, ranked = crud.leaderboard(session=session, protocol_id=protocol.id, offset=offset, limit=CHUNK,
                                     verified_only=verified_only)
        scores = crud.bundle_scores(session=session, submission_ids=[e.submission.id for e in ranked]) \
            if len(protocol.tasks) > 1 else {}
        for i, e in enumerate(ranked, offset + 1):
            row = _entry(i, e, ranks.ranges.get(e.submission.id) if ranks else None, base_url)
            if len(protocol.tasks) > 1:
                row.update(_task_values(protocol, scores.get(e.submission.id)))
            if safety:
                row.update(_safety_values(e.submission.safety))
            rows.append(row)
    return rows


def _cell(value: Cell) -> str | int:
    """A CSV cell: floats in full precision, None empty; text that a spreadsheet would run as a formula
    (an agent named "=HYPERLINK(…)") is quoted with a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _filename(protocol: Protocol, suffix: str) -> str:
    return protocol.id.replace("/", "-").replace("@", "-") + suffix


@router.get("/leaderboard/{protocol_id:path}.csv")
def board_csv(protocol_id: str, session: SessionDep, base_url: BaseUrlDep, verified: bool = False) -> Response:
    protocol = protocol_or_404(protocol_id)
    safety = crud.board_records_safety(session=session, protocol_id=protocol.id, verified_only=verified)
    rows = board_rows(session, protocol, verified_only=verified, base_url=base_url, safety=safety)
    tasks = [f"{n}:{part}" for n in protocol.task_names for part in ("mean", "low", "high")] \
        if len(protocol.tasks) > 1 else []
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*FIELDS, *tasks, *(SAFETY_FIELDS if safety else ())],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "content-disposition": f'attachment; filename="{_filename(protocol, ".csv")}"'})


@router.get("/leaderboard/{protocol_id:path}.json")
def board_json(protocol_id: str, session: SessionDep, base_url: BaseUrlDep, verified: bool = False) -> Response:
    protocol = protocol_or_404(protocol_id)
    safety = crud.board_records_safety(session=session, protocol_id=protocol.id, verified_only=verified)
    document: dict[str, object] = {
        "protocol": protocol.id, "protocol_sha256": protocol.sha256(), "metric": protocol.primary_metric,
        "tasks": protocol.task_names, "verified_only": verified,
        "entries": board_rows(session, protocol, verified_only=verified, base_url=base_url, safety=safety)}
    if safety:
        document["safety"] = {"force_threshold_n": FORCE_THRESHOLD_N, "computed_from": "the stored episodes",
                              "fields": {f"safety_{c.key}": c.definition for c in SAFETY_COLUMNS}}
    return Response(json.dumps(document, allow_nan=False), media_type="application/json", headers={
        "content-disposition": f'inline; filename="{_filename(protocol, ".json")}"'})
