"""One leaderboard per protocol. Sorting and paging are links (``?sort=&order=&page=``) rendered by the server:
no JavaScript needed, sorting covers every page rather than the visible one, every control is a link or a
form field and so reachable by keyboard, and the active column carries ``aria-sort``. Ranks are tie-aware
ranges (``services.board_ranks``); ticking two rows and "Compare selected" is a GET form that this module
turns into the compare page's address; multi-task boards add one compact column per task, and boards whose
simulator records safety metrics one per safety mean (``web.safety``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vla_bench import protocols
from vla_bench.server import crud
from vla_bench.server.api.deps import SessionDep, SettingsDep
from vla_bench.server.models import Submission
from vla_bench.server.pages.common import page, protocol_or_404
from vla_bench.server.services.board_ranks import MAX_RANKED, board_ranks
from vla_bench.server.services.run_groups import run_groups
from vla_bench.spec import Protocol
from vla_bench.web.charts import Axis, Strip, nice_axis, strip
from vla_bench.web.format import fmt_value, split_description
from vla_bench.web.safety import COLUMNS as SAFETY_COLUMNS
from vla_bench.web.safety import FORCE_THRESHOLD_N, fmt_safety

router = APIRouter(include_in_schema=False)
MAX_PAGE = 10**7  # page x page size stays far inside a 64-bit OFFSET
COLUMNS: tuple[tuple[crud.SortKey, str], ...] = (("agent", "Agent"), ("score", "Score"), ("iqm", "IQM"),
                                                 ("episodes", "Episodes"), ("date", "Date"))
MAX_TASK_COLUMNS = 12  # more tasks than this (MT50) stay on each submission's page: the row would not scan
SCORE_HEADINGS = {"success_rate": "Success rate (%)", "normalized_score": "Normalized score",
                  "mean_return": "Return", "average_length": "Average length"}


def score_heading(metric: str) -> str:
    """The score column's heading names the metric (the cells show its values)."""
    return SCORE_HEADINGS.get(metric, metric.replace("_", " ").capitalize())


@router.get("/leaderboard", response_class=HTMLResponse)
def leaderboard_picker(protocol: str | None = None, benchmark: str | None = None) -> Response:
    """The protocol picker's form target (works without JavaScript)."""
    if protocol:
        return RedirectResponse(f"/leaderboard/{protocol_or_404(protocol).id}", status.HTTP_303_SEE_OTHER)
    return RedirectResponse("/" + (f"?{urlencode({'benchmark': benchmark})}" if benchmark else ""),
                            status.HTTP_303_SEE_OTHER)


@router.get("/compare/selected", response_class=HTMLResponse)
def compare_selected(pick: Annotated[list[int], Query()] = []) -> Response:  # noqa: B006 (FastAPI reads it)
    """The board's "Compare selected" form target: exactly two ticked rows open the compare page."""
    chosen = list(dict.fromkeys(pick))
    if len(chosen) != 2:
        raise HTTPException(status.HTTP_400_BAD_REQUEST,
                            f"tick exactly two rows to compare them (you ticked {len(chosen)}); go back and try again")
    return RedirectResponse(f"/compare?{urlencode({'a': chosen[0], 'b': chosen[1]})}", status.HTTP_303_SEE_OTHER)


TaskCell = tuple[float | None, list[float | None] | None]


@dataclass(frozen=True)
class BoardEntry:
    rank: int
    submission: Submission
    strip: Strip | None
    rank_range: tuple[int, int] | None = None  # tie-aware (best, worst); None: not tested, plain position
    tasks: tuple[TaskCell, ...] = ()  # per-task (mean, ci95) in the protocol's task order

    @property
    def rank_text(self) -> str:
        if self.rank_range is None:
            return str(self.rank)
        best, worst = self.rank_range
        return str(best) if best == worst else f"{best}\u2013{worst}"


def _task_cells(protocol: Protocol, scores: object) -> tuple[TaskCell, ...]:
    """The board's per-task cells from an entry's stored scores (``None`` where it has none)."""
    tasks = scores.get("tasks") if isinstance(scores, dict) else None
    cells: list[TaskCell] = []
    for name in protocol.task_names:
        task = tasks.get(name) if isinstance(tasks, dict) else None
        estimate = task.get(protocol.primary_metric) if isinstance(task, dict) else None
        if isinstance(estimate, dict):
            cells.append((estimate.get("mean"), estimate.get("ci95")))
        else:
            cells.append((None, None))
    return tuple(cells)


def _header_links(base: str, sort: crud.SortKey, order: crud.SortOrder, metric: str) -> list[dict[str, str]]:
    headers = []
    for key, plain in COLUMNS:
        label = score_heading(metric) if key == "score" else plain
        active = key == sort
        # Clicking the active column flips it; another column starts in its natural order.
        next_order = ("asc" if order == "desc" else "desc") if active else crud.DEFAULT_ORDER[key]
        headers.append({
            "key": key, "label": label, "href": f"{base}?{urlencode({'sort': key, 'order': next_order})}",
            "aria_sort": ("descending" if order == "desc" else "ascending") if active else "none",
            "hint": f"sort by {label.lower()}, {'descending' if next_order == 'desc' else 'ascending'}",
        })
    return headers


@router.get("/leaderboard/{protocol_id:path}", response_class=HTMLResponse)
def leaderboard_page(
    *,
    protocol_id: str, session: SessionDep, settings: SettingsDep,
    sort: crud.SortKey = "score", order: crud.SortOrder | None = None,
    page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
    verified: bool = False,
) -> HTMLResponse:
    protocol = protocol_or_404(protocol_id)
    order = order or crud.DEFAULT_ORDER[sort]
    size = settings.page_size
    total, ranked = crud.leaderboard(session=session, protocol_id=protocol.id, sort=sort, order=order,
                                     offset=(page_number - 1) * size, limit=size, verified_only=verified)
    axis = _board_axis(protocol, ranked)
    ranks = board_ranks(session=session, protocol=protocol, n_entries=total, verified_only=verified) if total else None
    task_columns = 1 < len(protocol.tasks) <= MAX_TASK_COLUMNS
    per_task = crud.bundle_scores(session=session, submission_ids=[e.submission.id for e in ranked]) \
        if task_columns else {}
    entries = [BoardEntry(e.rank, e.submission, strip(e.submission.score_mean, e.submission.score_low,
                                                      e.submission.score_high, axis),
                          ranks.ranges.get(e.submission.id) if ranks else None,
                          _task_cells(protocol, per_task.get(e.submission.id)) if task_columns else ())
               for e in ranked]
    base = f"/leaderboard/{protocol.id}"
    pages = max(1, math.ceil(total / size))

    def page_href(number: int) -> str:
        query = {"sort": sort, "order": order, "page": number, **({"verified": 1} if verified else {})}
        return f"{base}?{urlencode(query)}"

    # Safety means stored per submission at ingest (no episodes read here); shown when any entry has them.
    safety = total > 0 and crud.board_records_safety(session=session, protocol_id=protocol.id,
                                                      verified_only=verified)
    groups = run_groups(session=session, protocol=protocol, verified_only=verified) if total else []
    run_of = {run.id: group for group in groups for run in group.runs}
    lede, more = split_description(protocol.description)
    return page(
        "leaderboard.html", protocol=protocol, lede=lede, more=more, entries=entries, total=total, axis=axis,
        axis_labels=(fmt_value(axis.lo, protocol.primary_metric), fmt_value(axis.hi, protocol.primary_metric)),
        headers={h["key"]: h for h in _header_links(base, sort, order, protocol.primary_metric)}, sort=sort,
        order=order, ranks=ranks, max_ranked=MAX_RANKED, task_columns=task_columns, run_groups=groups, run_of=run_of,
        page_number=page_number, pages=pages,
        prev_href=page_href(page_number - 1) if page_number > 1 else None,
        next_href=page_href(page_number + 1) if page_number < pages else None,
        pickers=[(b, protocols.protocol_ids(b)) for b in protocols.benchmark_names()],
        verified_only=verified, verified_toggle=base + ("" if verified else "?verified=1"),
        safety_columns=SAFETY_COLUMNS if safety else (), fmt_safety=fmt_safety, force_threshold=FORCE_THRESHOLD_N,
    )


def _board_axis(protocol: Protocol, ranked: list[crud.RankedEntry]) -> Axis:
    if protocol.primary_metric == "success_rate":
        return Axis(0.0, 1.0, (0.0, 0.5, 1.0))
    values = [v for e in ranked for v in (e.submission.score_low, e.submission.score_high, e.submission.score_mean)]
    return nice_axis(values, include=(0.0,) if protocol.primary_metric == "normalized_score" else ())
