"""The web pages: overview, one leaderboard per protocol, submission, compare, API reference.

Sorting and paging are links (``?sort=&order=&page=``) rendered by the server, so the pages need no
JavaScript, sort across all pages rather than the visible one, and every control is keyboard-reachable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from vla_bench.harness import registry
from vla_bench.server import crud
from vla_bench.server.api.deps import SessionDep, SettingsDep
from vla_bench.server.api.routes.compare import ComparisonError, compare_submissions
from vla_bench.server.core.config import server_version
from vla_bench.server.models import Submission, SubmissionBundle
from vla_bench.spec import Protocol
from vla_bench.spec.errors import UnknownNameError
from vla_bench.web.charts import Axis, ForestPlot, Strip, forest_plot, nice_axis, strip
from vla_bench.web.format import fmt_estimate, fmt_interval, fmt_signed, fmt_value
from vla_bench.web.render import render

router = APIRouter(include_in_schema=False)
EPISODES_SHOWN = 300
COLUMNS: tuple[tuple[crud.SortKey, str], ...] = (("agent", "Agent"), ("score", "Score"), ("iqm", "IQM"),
                                                 ("episodes", "Episodes"), ("date", "Date"))


def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(render(template, version=server_version(), **context), status_code=status_code)


def _protocol_or_404(protocol_id: str) -> Protocol:
    try:
        return registry.get_protocol(protocol_id, allow_deprecated=True)
    except UnknownNameError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


def _tick_format(metric: str) -> str:
    return "{:.0%}" if metric == "success_rate" else "{:g}"


# --- overview -----------------------------------------------------------------------------------------------
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


# --- leaderboard --------------------------------------------------------------------------------------------
@router.get("/leaderboard", response_class=HTMLResponse)
def leaderboard_picker(protocol: str | None = None, benchmark: str | None = None) -> Response:
    """The protocol picker's form target (works without JavaScript)."""
    if protocol:
        return RedirectResponse(f"/leaderboard/{_protocol_or_404(protocol).id}", status.HTTP_303_SEE_OTHER)
    return RedirectResponse("/" + (f"?{urlencode({'benchmark': benchmark})}" if benchmark else ""),
                            status.HTTP_303_SEE_OTHER)


@dataclass(frozen=True)
class BoardEntry:
    rank: int
    submission: Submission
    strip: Strip | None


def _header_links(base: str, sort: crud.SortKey, order: crud.SortOrder) -> list[dict[str, str]]:
    headers = []
    for key, label in COLUMNS:
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
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
) -> HTMLResponse:
    protocol = _protocol_or_404(protocol_id)
    order = order or crud.DEFAULT_ORDER[sort]
    size = settings.page_size
    total, ranked = crud.leaderboard(session=session, protocol_id=protocol.id, sort=sort, order=order,
                                     offset=(page_number - 1) * size, limit=size)
    axis = _board_axis(session, protocol, ranked)
    entries = [BoardEntry(e.rank, e.submission, strip(e.submission.score_mean, e.submission.score_low,
                                                      e.submission.score_high, axis)) for e in ranked]
    base = f"/leaderboard/{protocol.id}"
    pages = max(1, math.ceil(total / size))

    def page_href(number: int) -> str:
        return f"{base}?{urlencode({'sort': sort, 'order': order, 'page': number})}"

    return page(
        "leaderboard.html", protocol=protocol, entries=entries, total=total, axis=axis,
        axis_labels=(fmt_value(axis.lo, protocol.primary_metric), fmt_value(axis.hi, protocol.primary_metric)),
        headers={h["key"]: h for h in _header_links(base, sort, order)}, sort=sort, order=order,
        page_number=page_number, pages=pages,
        prev_href=page_href(page_number - 1) if page_number > 1 else None,
        next_href=page_href(page_number + 1) if page_number < pages else None,
        pickers=[(b, registry.protocol_ids(b)) for b in registry.benchmark_names()],
    )


def _board_axis(session: Session, protocol: Protocol, ranked: list[crud.RankedEntry]) -> Axis:
    if protocol.primary_metric == "success_rate":
        return Axis(0.0, 1.0, (0.0, 0.5, 1.0))
    values = [v for e in ranked for v in (e.submission.score_low, e.submission.score_high, e.submission.score_mean)]
    return nice_axis(values, include=(0.0,) if protocol.primary_metric == "normalized_score" else ())


# --- submission ---------------------------------------------------------------------------------------------
def _visible_submission(session: Session, submission_id: int) -> Submission:
    submission = crud.get_submission(session=session, submission_id=submission_id)
    if submission is None or submission.hidden:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no submission {submission_id}")
    return submission


def _task_chart(submission: Submission) -> ForestPlot:
    metric = submission.primary_metric
    rows = []
    for name, task in submission.scores["tasks"].items():
        estimate = task.get(metric) or {}
        low, high = (estimate.get("ci95") or [None, None])
        rows.append((name, estimate.get("mean"), low, high, fmt_estimate(estimate, metric)))
    include = (0.0, 1.0) if metric == "success_rate" else ((0.0,) if metric == "normalized_score" else ())
    return forest_plot(rows, include=include, tick_format=_tick_format(metric))


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def submission_page(submission_id: int, session: SessionDep) -> HTMLResponse:
    submission = _visible_submission(session, submission_id)
    bundle = session.get(SubmissionBundle, submission_id)
    summary = bundle.summary if bundle else {}
    records = crud.episode_records(session=session, submission_id=submission_id)
    records.sort(key=lambda r: r.key)
    partners = [s for s in crud.submissions_for_protocol(session=session, protocol_id=submission.protocol_id)
                if s.id != submission.id]
    return page(
        "submission.html", s=submission, summary=summary, agent=summary.get("agent", {}),
        provenance=summary.get("provenance", {}), run=summary.get("run", {}), chart=_task_chart(submission),
        tasks=submission.scores["tasks"], aggregate=submission.scores["aggregate"],
        episodes=records[:EPISODES_SHOWN], n_records=len(records), partners=partners,
    )


# --- compare ------------------------------------------------------------------------------------------------
@router.get("/compare", response_class=HTMLResponse)
def compare_page(a: int, b: int, session: SessionDep) -> HTMLResponse:
    try:
        sub_a, sub_b, result = compare_submissions(session, a, b)
    except ComparisonError as exc:
        raise HTTPException(exc.status_code, str(exc)) from None
    metric = result["metric"]
    rows = [(name, e["difference"]["mean"], *e["difference"]["ci95"],
             f"{fmt_signed(e['difference']['mean'], metric)} {fmt_interval(e['difference']['ci95'], metric)}")
            for name, e in result["tasks"].items()]
    overall = result["overall"]["difference"]
    rows.append(("all tasks", overall["mean"], *overall["ci95"],
                 f"{fmt_signed(overall['mean'], metric)} {fmt_interval(overall['ci95'], metric)}"))
    chart = forest_plot(rows, reference=0.0, tick_format=_tick_format(metric))
    return page("compare.html", a=sub_a, b=sub_b, result=result, metric=metric, chart=chart)


# --- API reference (offline; the CDN-hosted Swagger UI is switched off) -----------------------------------------
@router.get("/api", response_class=HTMLResponse)
def api_reference(request: Request) -> HTMLResponse:
    spec = request.app.openapi()
    operations = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            operations.append({
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "tags": op.get("tags", []),
                "parameters": [(p["name"], p["in"], p.get("required", False)) for p in op.get("parameters", [])],
                "responses": sorted(op.get("responses", {})),
                "auth": bool(op.get("security")),
            })
    return page("api.html", operations=operations, title=spec["info"]["title"], api_version=spec["info"]["version"])
