"""Database reads and writes. Keyword-only functions that take the session; the caller owns the transaction."""

from __future__ import annotations

import bisect
import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import ColumnElement, SQLColumnExpression, func, select
from sqlalchemy.orm import Session, selectinload, undefer

from vla_bench.server.core.security import display_prefix, generate_token, hash_token
from vla_bench.server.models import (
    ROLES,
    ApiToken,
    ServerMeta,
    Submission,
    SubmissionBundle,
    SubmissionEvent,
    User,
    utcnow,
)
from vla_bench.spec import EpisodeRecord
from vla_bench.spec.errors import UserError
from vla_bench.spec.summary import EstimateJson, ScoresJson
from vla_bench.web.provenance import shorten_paths

if TYPE_CHECKING:  # validation pulls in the scoring stack (scipy); admin commands need none of it
    from vla_bench.server.validation import AcceptedBundle

SortKey = Literal["score", "iqm", "date", "agent", "episodes"]
SortOrder = Literal["asc", "desc"]
SORT_KEYS: tuple[SortKey, ...] = ("score", "iqm", "date", "agent", "episodes")
DEFAULT_ORDER: dict[SortKey, SortOrder] = {"score": "desc", "iqm": "desc", "date": "desc", "agent": "asc",
                                           "episodes": "desc"}


# --- users and tokens ---------------------------------------------------------------------------------------
def create_user(*, session: Session, name: str, role: str = "submitter") -> User:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if not name or len(name) > 64:
        raise UserError("a user name has 1 to 64 characters")
    if get_user(session=session, name=name) is not None:
        raise UserError(f"user {name!r} already exists")
    user = User(name=name, role=role, created_at=utcnow())
    session.add(user)
    session.flush()
    return user


def get_user(*, session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name))


def create_token(*, session: Session, user: User, secret_key: str, label: str = "") -> tuple[ApiToken, str]:
    """A new token for ``user``: the row and the plaintext, which is shown once and never stored."""
    plaintext = generate_token()
    token = ApiToken(user_id=user.id, token_hash=hash_token(plaintext, secret_key), prefix=display_prefix(plaintext),
                     label=label[:100], created_at=utcnow())
    session.add(token)
    session.flush()
    return token, plaintext


def revoke_tokens(*, session: Session, prefix: str) -> int:
    tokens = session.scalars(select(ApiToken).where(ApiToken.prefix == prefix, ApiToken.revoked_at.is_(None))).all()
    for token in tokens:
        token.revoked_at = utcnow()
    return len(tokens)


def user_for_token(*, session: Session, token: str, secret_key: str) -> tuple[User, ApiToken] | None:
    row = session.execute(
        select(User, ApiToken).join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token, secret_key), ApiToken.revoked_at.is_(None))
    ).first()
    return (row[0], row[1]) if row else None


# --- submissions --------------------------------------------------------------------------------------------
def find_duplicate(*, session: Session, accepted: AcceptedBundle) -> Submission | None:
    return session.scalar(select(Submission).where(
        Submission.agent_identity == accepted.agent_identity,
        Submission.protocol_sha256 == accepted.protocol.sha256(),
        Submission.episodes_sha256 == accepted.episodes_sha256,
    ))


def _estimate(estimate: EstimateJson | None) -> tuple[float | None, float | None, float | None]:
    if estimate is None or estimate["mean"] is None:
        return (None, None, None)
    low, high = estimate["ci95"]
    return (float(estimate["mean"]), low, high)


def add_submission(*, session: Session, accepted: AcceptedBundle, user: User | None, received_at: dt.datetime,
                   is_baseline: bool = False, publish: bool = True) -> Submission:
    """Insert an accepted bundle with its state history: submitted -> validated (-> published)."""
    from vla_bench.scoring.safety_summary import entry_safety  # noqa: PLC0415 - the scoring stack, as validation

    summary, aggregate = accepted.summary, accepted.scores["aggregate"]
    agent = summary.agent
    score, score_low, score_high = _estimate(aggregate["mean"])
    iqm, iqm_low, iqm_high = _estimate(aggregate["iqm"])
    now = utcnow()
    actor = "results/" if is_baseline else (user.name if user else None)
    submission = Submission(
        user_id=user.id if user else None, status="published" if publish else "validated",
        is_baseline=is_baseline, is_verified=False, hidden=False,
        benchmark=accepted.protocol.benchmark, protocol_id=accepted.protocol.id,
        protocol_version=accepted.protocol.version, protocol_sha256=accepted.protocol.sha256(),
        primary_metric=accepted.protocol.primary_metric,
        # names and specs are published on every page: local paths keep only their last component
        agent_name=shorten_paths(agent.name), agent_spec=shorten_paths(agent.spec), agent_kind=agent.kind,
        agent_sha256=agent.sha256,
        agent_identity=accepted.agent_identity, episodes_sha256=accepted.episodes_sha256,
        training_group=agent.training.group if agent.training else None,
        training_seed=agent.training.seed if agent.training else None,
        n_episodes=aggregate["n_episodes"], n_errors=aggregate["n_errors"],
        score_mean=score, score_low=score_low, score_high=score_high,
        iqm_mean=iqm, iqm_low=iqm_low, iqm_high=iqm_high,
        safety=entry_safety(record.safety for record in accepted.records),
        harness_version=summary.provenance.harness_version[:64],
        run_finished_at=summary.finished_at, submitted_at=received_at,
    )
    submission.bundle = SubmissionBundle(summary=accepted.summary_json, scores=accepted.scores,
                                         episodes_jsonl=accepted.episodes_jsonl())
    submission.events = [
        SubmissionEvent(state="submitted", at=received_at, actor=actor),
        SubmissionEvent(state="validated", at=now, actor="server",
                        note="schema, protocol hash, episode plan and recomputed scores checked"),
    ]
    if publish:
        submission.events.append(SubmissionEvent(state="published", at=now, actor="server"))
    session.add(submission)
    session.flush()
    return submission


def get_submission(*, session: Session, submission_id: int) -> Submission | None:
    return session.get(Submission, submission_id, options=[selectinload(Submission.events)])


def ownership_refusal(submission: Submission | None, submission_id: int, caller: User) -> tuple[int, str] | None:
    """Why ``caller`` may not add to this submission (HTTP status, message), or None: a hidden one is not found
    but by an admin, another owner's is forbidden but to an admin."""
    if submission is None or (submission.hidden and not caller.is_admin):
        return 404, f"no submission {submission_id}"
    if submission.user_id != caller.id and not caller.is_admin:
        return 403, f"submission {submission_id} is not yours"
    return None


def get_bundle(*, session: Session, submission_id: int) -> SubmissionBundle | None:
    return session.get(SubmissionBundle, submission_id)


def episode_records(*, session: Session, submission_id: int) -> list[EpisodeRecord]:
    bundle = session.get(SubmissionBundle, submission_id, options=[undefer(SubmissionBundle.episodes_jsonl)])
    if bundle is None:
        return []
    return [EpisodeRecord.from_json(json.loads(line)) for line in bundle.episodes_jsonl.splitlines() if line]


def first_episode_records(*, session: Session, submission_id: int, count: int) -> tuple[list[EpisodeRecord], int]:
    """The first ``count`` episodes in plan order (task, index) and how many there are: only those shown are
    turned into records (a 2,500-episode bundle's page needs 300 of them)."""
    bundle = session.get(SubmissionBundle, submission_id, options=[undefer(SubmissionBundle.episodes_jsonl)])
    if bundle is None:
        return [], 0
    lines = [json.loads(line) for line in bundle.episodes_jsonl.splitlines() if line]
    lines.sort(key=lambda line: (line["task"], line["episode_index"]))
    return [EpisodeRecord.from_json(line) for line in lines[:count]], len(lines)


def record_event(*, session: Session, submission: Submission, state: str, actor: str | None,
                 note: str | None = None) -> None:
    session.add(SubmissionEvent(submission_id=submission.id, state=state, at=utcnow(), actor=actor, note=note))


def count_submissions(*, session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Submission)) or 0


# --- leaderboards -------------------------------------------------------------------------------------------
def _on_board(verified_only: bool = False) -> list[ColumnElement[bool]]:
    # a failed verification takes the entry off the default ranking (its page still says why)
    shown = (Submission.verification == "verified" if verified_only
             else Submission.verification != "verification_failed")
    return [Submission.status == "published", Submission.hidden.is_(False), shown]


def _rank_column() -> ColumnElement[int]:
    return func.rank().over(order_by=Submission.score_mean.desc().nulls_last())


@dataclass(frozen=True)
class RankedEntry:
    rank: int
    submission: Submission


def _sort_columns(sort: SortKey, order: SortOrder) -> list[ColumnElement[Any]]:
    columns: dict[str, SQLColumnExpression[Any]] = {
        "score": Submission.score_mean, "iqm": Submission.iqm_mean, "date": Submission.submitted_at,
        "agent": func.lower(Submission.agent_name), "episodes": Submission.n_episodes,
    }
    column = columns[sort]
    primary = column.desc().nulls_last() if order == "desc" else column.asc().nulls_last()
    return [primary, Submission.submitted_at.asc(), Submission.id.asc()]


def leaderboard(*, session: Session, protocol_id: str, sort: SortKey = "score", order: SortOrder = "desc",
                offset: int = 0, limit: int = 50, verified_only: bool = False) -> tuple[int, list[RankedEntry]]:
    """One protocol's visible, published entries: (total, page). Rank is by the primary metric however the
    page is sorted (ties share a rank). ``verified_only``: only entries whose verification passed."""
    filters = [Submission.protocol_id == protocol_id, *_on_board(verified_only)]
    total = session.scalar(select(func.count()).select_from(Submission).where(*filters)) or 0
    # Sort and cut the page on the narrow index columns; only the page's rows are read whole. Ranks come from
    # the board's sorted scores (one index-only read, bisected here): a rank() window over every entry
    # joined back to the table was most of a request's time at 10,000 entries.
    page_ids = select(Submission.id).where(*filters).order_by(*_sort_columns(sort, order)).offset(offset).limit(limit)
    rows = session.scalars(select(Submission).where(Submission.id.in_(page_ids))
                           .order_by(*_sort_columns(sort, order))).all()
    ascending = [score for score in session.scalars(select(Submission.score_mean).where(
        *filters, Submission.score_mean.is_not(None)).order_by(Submission.score_mean.asc())) if score is not None]
    return total, [RankedEntry(rank=_rank(ascending, sub.score_mean), submission=sub) for sub in rows]


def board_records_safety(*, session: Session, protocol_id: str, verified_only: bool = False) -> bool:
    """Whether any entry of the board has safety metrics (its safety columns are shown): one probe that stops
    at the first such entry."""
    found = select(Submission.id).where(Submission.protocol_id == protocol_id, *_on_board(verified_only),
                                        Submission.safety.is_not(None)).limit(1)
    return session.scalar(found) is not None


def _rank(ascending: list[float], score: float | None) -> int:
    """rank() over the scores, best first, ties sharing a rank, entries without a score last."""
    if score is None:
        return len(ascending) + 1
    return len(ascending) - bisect.bisect_right(ascending, score) + 1


@dataclass(frozen=True)
class BoardSummary:
    protocol_id: str
    n_entries: int
    best: Submission | None


def board_summaries(*, session: Session) -> dict[str, BoardSummary]:
    """protocol id -> number of entries and the best entry, for every protocol that has entries."""
    rows = session.execute(
        select(Submission.protocol_id, func.count()).where(*_on_board()).group_by(Submission.protocol_id)
    ).all()
    counts = {protocol_id: count for protocol_id, count in rows}
    first = func.row_number().over(
        partition_by=Submission.protocol_id,
        order_by=(Submission.score_mean.desc().nulls_last(), Submission.submitted_at.asc(), Submission.id.asc()),
    )
    best_ids = select(Submission.id.label("id"), first.label("position")).where(*_on_board()).subquery()
    best = session.scalars(
        select(Submission).join(best_ids, best_ids.c.id == Submission.id).where(best_ids.c.position == 1)
    ).all()
    by_protocol = {s.protocol_id: s for s in best}
    return {pid: BoardSummary(pid, n, by_protocol.get(pid)) for pid, n in counts.items()}


def submissions_for_protocol(*, session: Session, protocol_id: str, limit: int = 200) -> list[Submission]:
    """Visible entries of a protocol (for choosing a comparison partner), best first."""
    return list(session.scalars(
        select(Submission).where(Submission.protocol_id == protocol_id, *_on_board())
        .order_by(Submission.score_mean.desc().nulls_last(), Submission.id).limit(limit)
    ))


def recent_submissions(*, session: Session, limit: int = 10, benchmark: str | None = None) -> list[Submission]:
    """The newest entries shown on the boards (of one benchmark), newest first (the overview's list)."""
    query = select(Submission).where(*_on_board())
    if benchmark is not None:
        query = query.where(Submission.protocol_id.startswith(f"{benchmark}/", autoescape=True))
    return list(session.scalars(query.order_by(Submission.submitted_at.desc(), Submission.id.desc()).limit(limit)))


# --- server meta --------------------------------------------------------------------------------------------
def get_meta(*, session: Session, key: str) -> str | None:
    row = session.get(ServerMeta, key)
    return row.value if row else None


def set_meta(*, session: Session, key: str, value: str) -> None:
    row = session.get(ServerMeta, key)
    if row is None:
        session.add(ServerMeta(key=key, value=value))
    else:
        row.value = value


@dataclass(frozen=True)
class BoardRow:
    """What a board's tie-aware ranks need of one entry, without its bulky bundle."""

    id: int
    protocol_sha256: str
    episodes_sha256: str
    score_mean: float | None
    score_low: float | None
    score_high: float | None


def board_rows(*, session: Session, protocol_id: str, verified_only: bool = False,
               limit: int | None = None) -> list[BoardRow]:
    """A board's entries best first (narrow columns only), at most ``limit``."""
    query = (select(Submission.id, Submission.protocol_sha256, Submission.episodes_sha256, Submission.score_mean,
                    Submission.score_low, Submission.score_high)
             .where(Submission.protocol_id == protocol_id, *_on_board(verified_only))
             .order_by(*_sort_columns("score", "desc")).limit(limit))
    return [BoardRow(*row) for row in session.execute(query).all()]


def training_runs(*, session: Session, protocol_id: str, verified_only: bool = False) -> list[Submission]:
    """A board's entries that declare a training run (agent.training), newest first."""
    query = (select(Submission).where(Submission.protocol_id == protocol_id, Submission.training_group.is_not(None),
                                      *_on_board(verified_only))
             .order_by(Submission.submitted_at.desc(), Submission.id.desc()))
    return list(session.scalars(query))


def episode_lines(*, session: Session, submission_ids: list[int]) -> dict[int, str]:
    """submission id -> its ``episodes.jsonl`` text, in one query."""
    if not submission_ids:
        return {}
    rows = session.execute(select(SubmissionBundle.submission_id, SubmissionBundle.episodes_jsonl)
                           .where(SubmissionBundle.submission_id.in_(submission_ids))).all()
    return {submission_id: text for submission_id, text in rows}


def bundle_scores(*, session: Session, submission_ids: list[int]) -> dict[int, ScoresJson]:
    """submission id -> the scores the server recomputed from its bundle (per-task columns of a board page)."""
    if not submission_ids:
        return {}
    rows = session.execute(select(SubmissionBundle.submission_id, SubmissionBundle.scores)
                           .where(SubmissionBundle.submission_id.in_(submission_ids))).all()
    return {submission_id: scores for submission_id, scores in rows}
