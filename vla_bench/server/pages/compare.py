"""Two submissions side by side: per-task paired differences with intervals."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse

from vla_bench.scoring.compare import IntervalJson
from vla_bench.server.api.deps import QueryId, SessionDep
from vla_bench.server.pages.common import page, tick_format
from vla_bench.server.services.comparison import ComparisonError, compare_submissions
from vla_bench.web.charts import chart_pair
from vla_bench.web.format import fmt_interval, fmt_signed

router = APIRouter(include_in_schema=False)


@router.get("/compare", response_class=HTMLResponse)
def compare_page(a: QueryId, b: QueryId, session: SessionDep) -> HTMLResponse:
    try:
        sub_a, sub_b, result = compare_submissions(session, a, b)
    except ComparisonError as exc:
        raise HTTPException(exc.status_code, str(exc)) from None
    metric = result["metric"]

    def row(name: str, difference: IntervalJson) -> tuple[str, float | None, float | None, float | None, str]:
        low, high = difference["ci95"]
        text = f"{fmt_signed(difference['mean'], metric)} {fmt_interval(difference['ci95'], metric)}"
        return (name, difference["mean"], low, high, text)

    rows = [row(name, e["difference"]) for name, e in result["tasks"].items()]
    rows.append(row("all tasks", result["overall"]["difference"]))
    chart = chart_pair(rows, reference=0.0, tick_format=tick_format(metric))
    return page("compare.html", a=sub_a, b=sub_b, result=result, metric=metric, chart=chart)
