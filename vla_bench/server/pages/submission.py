"""A submission: headline scores, per-task table and chart, comparison picker, training curves and episode
videos, provenance, history, episodes."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from vla_bench.server import crud
from vla_bench.server.api.deps import SessionDep, SubmissionId
from vla_bench.server.models import Submission, SubmissionVideo
from vla_bench.server.pages.common import page, tick_format
from vla_bench.server.services import media
from vla_bench.server.verification.jobs import latest_job
from vla_bench.spec import EpisodeRecord
from vla_bench.spec.summary import ScoresJson, task_estimate
from vla_bench.web.charts import ChartPair, chart_pair
from vla_bench.web.curves import CurvePanel, curve_panels
from vla_bench.web.format import fmt_datetime, fmt_estimate, fmt_value
from vla_bench.web.provenance import provenance_tables

router = APIRouter(include_in_schema=False)
EPISODES_SHOWN = 300  # the rest are in the bundle download


def _visible_submission(session: Session, submission_id: int) -> Submission:
    submission = crud.get_submission(session=session, submission_id=submission_id)
    if submission is None or submission.hidden:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no submission {submission_id}")
    return submission


def _task_chart(submission: Submission, scores: ScoresJson) -> ChartPair:
    metric = submission.primary_metric
    rows = []
    for name, task in scores["tasks"].items():
        estimate = task_estimate(task, metric)
        low, high = (estimate.get("ci95") if estimate else None) or (None, None)
        rows.append((name, estimate["mean"] if estimate else None, low, high, fmt_estimate(estimate, metric)))
    include = (0.0, 1.0) if metric == "success_rate" else ((0.0,) if metric == "normalized_score" else ())
    return chart_pair(rows, include=include, tick_format=tick_format(metric))


def _video_captions(videos: list[SubmissionVideo], records: list[EpisodeRecord]) -> list[tuple[SubmissionVideo, str]]:
    """Each video with the episode its name points at (``hopper-0003`` -> task hopper, episode 3, as
    `vla-bench eval --record` names them): its return and outcome, when that episode is among ``records``."""
    by_key = {(r.task, r.episode_index): r for r in records}
    captions = []
    for video in videos:
        task, _, index = video.label.rpartition("-")
        record = by_key.get((task, int(index))) if index.isdigit() else None
        if record is None:
            captions.append((video, video.label))
            continue
        outcome = "" if record.success is None else (" · success" if record.success else " · no success")
        captions.append((video, f"{record.task} #{record.episode_index} · return {fmt_value(record.total_return)}"
                                f"{outcome}"))
    return captions


def _training_curves(session: Session, submission_id: int) -> tuple[list[CurvePanel], int] | None:
    """One panel per measure of the submission's training log and the log's row count; None without a log."""
    log = media.training_log(session, submission_id)
    if log is None:
        return None
    return curve_panels([(column, log.series(column)) for column in log.columns[1:]]), len(log.rows)


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def submission_page(submission_id: SubmissionId, session: SessionDep) -> HTMLResponse:
    submission = _visible_submission(session, submission_id)
    bundle = crud.get_bundle(session=session, submission_id=submission_id)
    if bundle is None:  # written in the submission's own transaction: only a damaged database lacks it
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, f"submission {submission_id} has no bundle")
    summary, scores = bundle.summary, bundle.scores
    records, n_records = crud.first_episode_records(session=session, submission_id=submission_id,
                                                    count=EPISODES_SHOWN)
    partners = [s for s in crud.submissions_for_protocol(session=session, protocol_id=submission.protocol_id)
                if s.id != submission.id]
    record = {"agent_spec": submission.agent_spec, "agent_kind": submission.agent_kind,
              "agent_sha256": submission.agent_sha256, "protocol_id": submission.protocol_id,
              "protocol_sha256": submission.protocol_sha256, "harness_version": submission.harness_version,
              "finished": fmt_datetime(submission.run_finished_at)}
    tables = provenance_tables(agent=summary.get("agent", {}), provenance=summary.get("provenance", {}),
                               run=summary.get("run", {}), record=record)
    return page(
        "submission.html", s=submission, summary=summary, provenance_tables=tables,
        chart=_task_chart(submission, scores), tasks=scores["tasks"], aggregate=scores["aggregate"],
        episodes=records, n_records=n_records, partners=partners,
        vjob=latest_job(session, submission_id), training=_training_curves(session, submission_id),
        videos=_video_captions(media.videos(session, submission_id), records),
    )
