"""API request and response models (what the OpenAPI document shows). Table-only columns such as token
hashes and agent identity hashes never appear here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from vla_bench.server.models import Submission, SubmissionBundle, SubmissionEvent
from vla_bench.spec import Protocol
from vla_bench.web.provenance import withhold_json


class Estimate(BaseModel):
    mean: float | None
    ci95: tuple[float | None, float | None]

    @classmethod
    def of(cls, mean: float | None, low: float | None, high: float | None) -> Estimate:
        return cls(mean=mean, ci95=(low, high))


class TrainingPublic(BaseModel):
    group: str = Field(description="the method's training group: runs of one group and owner form a multi-run entry")
    seed: int


class AgentPublic(BaseModel):
    name: str
    kind: str
    spec: str
    sha256: str | None
    training: TrainingPublic | None = Field(default=None, description="the training run the bundle declares")


class SubmissionListItem(BaseModel):
    id: int
    url: str = Field(description="the submission's web page")
    status: Literal["submitted", "validated", "published", "rejected"]
    is_baseline: bool
    is_verified: bool
    verification: Literal["unverified", "verifying", "verified", "verification_failed", "inconclusive"] = Field(
        description="re-run of a secret sample of the episodes against the submitted policy")
    agent: AgentPublic
    submitter: str | None = Field(description="user name; null for reference baselines")
    benchmark: str
    protocol_id: str
    primary_metric: str
    score: Estimate = Field(description="mean over tasks of the primary metric, stratified-bootstrap 95% CI")
    iqm: Estimate
    n_episodes: int
    n_errors: int
    submitted_at: dt.datetime

    @classmethod
    def of(cls, submission: Submission, base_url: str) -> SubmissionListItem:
        return cls(**_list_fields(submission, base_url))


def _list_fields(s: Submission, base_url: str) -> dict[str, Any]:
    return {
        "id": s.id, "url": f"{base_url}/submissions/{s.id}", "status": s.status, "is_baseline": s.is_baseline,
        "is_verified": s.is_verified, "verification": s.verification,
        "agent": AgentPublic(name=s.agent_name, kind=s.agent_kind, spec=s.agent_spec, sha256=s.agent_sha256,
                             training=TrainingPublic(group=s.training_group, seed=s.training_seed)
                             if s.training_group is not None and s.training_seed is not None else None),
        "submitter": s.user.name if s.user else None, "benchmark": s.benchmark, "protocol_id": s.protocol_id,
        "primary_metric": s.primary_metric, "score": Estimate.of(s.score_mean, s.score_low, s.score_high),
        "iqm": Estimate.of(s.iqm_mean, s.iqm_low, s.iqm_high), "n_episodes": s.n_episodes, "n_errors": s.n_errors,
        "submitted_at": s.submitted_at,
    }


class LeaderboardEntry(SubmissionListItem):
    rank: int = Field(description="by the primary metric (ties share a rank), whatever the sort order")
    rank_low: int | None = Field(default=None, description=(
        "tie-aware rank range, best end: 1 + the entries significantly better than this one (the page's "
        "rank_method names the tests); null when the entry was not tested (see n_ranked)"))
    rank_high: int | None = Field(default=None, description=(
        "tie-aware rank range, worst end: the board's size - the entries significantly worse; null when untested"))

    @classmethod
    def ranked(cls, submission: Submission, rank: int, base_url: str,
               rank_range: tuple[int, int] | None = None) -> LeaderboardEntry:
        low, high = rank_range if rank_range is not None else (None, None)
        return cls(rank=rank, rank_low=low, rank_high=high, **_list_fields(submission, base_url))


class EventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    state: str
    at: dt.datetime
    actor: str | None
    note: str | None


class SubmissionPublic(SubmissionListItem):
    reason: str | None = Field(description="why the submission was rejected")
    hidden: bool
    protocol_version: int
    protocol_sha256: str
    harness_version: str
    run_finished_at: str | None
    bundle_url: str = Field(description="download of the bundle as submitted: {summary, episodes}")
    events: list[EventPublic]
    scores: Mapping[str, object] = Field(description="every score, recomputed by the server from the episodes")
    provenance: Mapping[str, object] = Field(description="local filesystem paths shown as '(local path withheld)'; "
                                       "the bundle download has them as submitted")
    run: Mapping[str, object]
    training_log_url: str | None = Field(default=None, description="the training log sent with the bundle "
                                         "(the trainer's CSV as numbers); null when none was")
    videos_url: str = Field(default="", description="the episode videos uploaded for it")

    @classmethod
    def full(cls, s: Submission, bundle: SubmissionBundle, base_url: str, *,
             has_training_log: bool = False) -> SubmissionPublic:
        summary = bundle.summary
        api = f"{base_url}/api/v1/submissions/{s.id}"
        return cls(
            training_log_url=f"{api}/training-log" if has_training_log else None, videos_url=f"{api}/videos",
            **_list_fields(s, base_url), reason=s.reason, hidden=s.hidden, protocol_version=s.protocol_version,
            protocol_sha256=s.protocol_sha256, harness_version=s.harness_version, run_finished_at=s.run_finished_at,
            bundle_url=f"{base_url}/api/v1/submissions/{s.id}/bundle",
            events=[EventPublic.model_validate(e) for e in _events(s)], scores=bundle.scores,
            provenance=withhold_json(_block(summary, "provenance")), run=withhold_json(_block(summary, "run")),
        )


def _block(summary: dict[str, JsonValue], key: str) -> dict[str, JsonValue]:
    """An object of a stored summary (an empty one where it is missing)."""
    value = summary.get(key)
    return value if isinstance(value, dict) else {}


def _events(s: Submission) -> list[SubmissionEvent]:
    return list(s.events)


class SubmissionCreated(BaseModel):
    id: int
    url: str = Field(description="the submission's web page")
    api_url: str
    status: str
    duplicate: bool = Field(description="true: this bundle was already submitted; that submission is returned")


class SubmissionUpdate(BaseModel):
    """Admin changes; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    hidden: bool | None = None
    verified: bool | None = Field(default=None, description="host-verified badge")
    status: Literal["published", "rejected"] | None = None
    reason: str | None = Field(default=None, max_length=2000, description="required when rejecting")


class SubmissionBody(BaseModel):
    """A results bundle: the contents of summary.json and the lines of episodes.jsonl (documentation only;
    the server validates the body against the bundle's JSON Schemas itself)."""

    summary: dict[str, object]
    episodes: list[dict[str, object]]
    training_log: dict[str, str] | None = None


class ProtocolPublic(BaseModel):
    id: str
    benchmark: str
    suite: str
    version: int
    sha256: str
    description: str
    primary_metric: str
    tasks: list[str]
    episodes_per_task: int
    n_episodes: int
    max_steps: int
    observation_mode: str
    deprecated: str | None
    leaderboard_url: str

    @classmethod
    def of(cls, p: Protocol, base_url: str) -> ProtocolPublic:
        return cls(id=p.id, benchmark=p.benchmark, suite=p.suite, version=p.version, sha256=p.sha256(),
                   description=p.description, primary_metric=p.primary_metric, tasks=list(p.task_names),
                   episodes_per_task=p.episodes_per_task, n_episodes=p.n_episodes, max_steps=p.max_steps,
                   observation_mode=p.observation.mode, deprecated=p.deprecated,
                   leaderboard_url=f"{base_url}/leaderboard/{p.id}")


class BenchmarkPublic(BaseModel):
    name: str
    description: str
    protocols: list[str]


class LeaderboardPage(BaseModel):
    protocol: ProtocolPublic
    count: int
    offset: int
    limit: int
    sort: str
    order: str
    rank_method: str | None = Field(default=None, description=(
        "how rank_low/rank_high were computed (paired tests on the identical planned episodes, Holm-adjusted); "
        "null on an empty board"))
    n_ranked: int = Field(default=0, description=(
        "entries ranked by the tests (the board's best ones, up to a server limit); the rest have null ranges"))
    data: list[LeaderboardEntry]


class BoardPublic(BaseModel):
    protocol_id: str
    benchmark: str
    n_entries: int
    best: SubmissionListItem | None
    leaderboard_url: str


class ComparisonPublic(BaseModel):
    a: SubmissionListItem
    b: SubmissionListItem
    comparison: Mapping[str, object] = Field(description="paired differences B - A per task and overall, 95% CIs")


class UserPublic(BaseModel):
    name: str
    role: str


class ErrorPublic(BaseModel):
    detail: str
    field: str | None = Field(default=None, description="JSON path of the offending field, e.g. $.episodes[3].seed")
    errors: list[str] = Field(default_factory=list)
