"""Everything the server checks before a results bundle may go on a leaderboard; pure (no database).

The order is cheap-to-expensive and general-to-specific, and each refusal names the JSON path of what
is wrong (``$.summary.protocol.sha256``, ``$.episodes[7].seed``) so a submitter can act on it. Scores are
never trusted: they are recomputed with the harness's one scoring function and compared with the claim.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, TypedDict

from pydantic import JsonValue, ValidationError

from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import full_plan
from vla_bench.scoring.scores import compute_scores
from vla_bench.server import bundle_limits as limits
from vla_bench.server.training_log import TrainingLog, parse_training_log
from vla_bench.spec import EpisodeRecord, Protocol, canonical_json
from vla_bench.spec.errors import UnknownNameError, UserError
from vla_bench.spec.schemas import schema_errors
from vla_bench.spec.summary import AgentInfo, ProtocolRef, ScoresJson, Summary

MAX_LISTED_ERRORS = 20
MAX_LISTED_KEYS = 5
FIELD_LIMITS = {"name": 200, "kind": 64}  # columns of bounded width in the database


class RefusalJson(TypedDict):
    """The body of a refusal: the API's ``ErrorPublic``."""

    detail: str
    field: str | None
    errors: list[str]


class BundleRejectedError(Exception):
    """A refused submission: HTTP status, a message naming the problem, and the JSON path of the bad field."""

    def __init__(self, status_code: int, message: str, field: str | None = None,
                 errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.field = field
        self.errors = errors or []

    def to_json(self) -> RefusalJson:
        return {"detail": self.message, "field": self.field, "errors": self.errors}


def _invalid(message: str, field: str | None = None, errors: list[str] | None = None) -> BundleRejectedError:
    return BundleRejectedError(422, message, field, errors)


@dataclass(frozen=True)
class AcceptedBundle:
    """A bundle that passed every check, with what the database needs from it: the summary read as the typed
    model and as the document that was sent (stored as it came), the episode lines and their records, and the
    scores recomputed from them."""

    protocol: Protocol
    summary: Summary
    summary_json: dict[str, JsonValue]
    episodes: list[dict[str, JsonValue]]
    records: list[EpisodeRecord]
    scores: ScoresJson
    agent_identity: str
    episodes_sha256: str
    training_log: TrainingLog | None = None  # the trainer's CSV, when the body carries one

    def episodes_jsonl(self) -> str:
        return "".join(json.dumps(line, separators=(",", ":"), allow_nan=False) + "\n" for line in self.episodes)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON (non-finite numbers are written as null in bundles)")


def parse_body(raw: bytes) -> JsonValue:
    """The request body as JSON; 400 when it is not (bad UTF-8, syntax, NaN/Infinity); 422 for numbers past
    64 bits (1e400, 2**63) and text no database stores (NUL, lone surrogates) or longer than its limit."""
    try:
        document: JsonValue = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant,
                              parse_float=limits.parse_float, parse_int=limits.parse_int)
        limits.check_text(document)
        return document
    except limits.NumberRangeError as exc:
        raise _invalid(f"the body has a number out of range: {exc}") from None
    except limits.Refusal as exc:
        raise _invalid(exc.message, exc.field) from None
    except UnicodeDecodeError as exc:
        raise BundleRejectedError(400, f"the body is not UTF-8 text: {exc}") from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise BundleRejectedError(400, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BundleRejectedError(400, "the body is not a results bundle: JSON nested too deeply") from None


def validate_bundle(document: JsonValue, *, rel_tol: float = 1e-6, allow_deprecated: bool = False) -> AcceptedBundle:
    """Check a submission body ``{"summary": {...}, "episodes": [...]}``; raise :class:`BundleRejectedError`."""
    summary_json, lines, log = _check_envelope(document)
    training_log = _check_training_log(log)
    summary = _check_summary_schema(summary_json)
    protocol = _check_protocol(summary.protocol, allow_deprecated=allow_deprecated)
    if len(lines) > 2 * protocol.n_episodes:  # bound the per-episode work before doing any of it
        raise _invalid(f"the bundle has {len(lines)} episode records, but {protocol.id} plans "
                       f"{protocol.n_episodes} episodes", "$.episodes")
    episodes = _check_episode_schema(lines)
    _check_run(summary, protocol)
    records = [EpisodeRecord.from_json(line) for line in episodes]  # lines of the schema: no unknown field
    try:
        limits.check_summary(summary, protocol, now=dt.datetime.now(dt.UTC))
        limits.check_episodes(records, protocol)
    except limits.Refusal as exc:
        raise _invalid(exc.message, exc.field) from None
    _check_plan(protocol, records)
    if summary.n_episodes_done != len(records):
        raise _invalid(f"n_episodes_done is {summary.n_episodes_done}, but the bundle has "
                       f"{len(records)} episode records", "$.summary.n_episodes_done")
    try:
        scores = compute_scores(protocol, records)
    except ValueError as exc:  # defensive: the plan check already rules out foreign tasks
        raise _invalid(f"the scores cannot be recomputed from the episodes: {exc}", "$.episodes") from None
    _check_scores(summary_json["scores"], scores, rel_tol)  # the claim as sent, not as the model reads it
    return AcceptedBundle(
        protocol=protocol, summary=summary, summary_json=summary_json, episodes=episodes, records=records,
        scores=scores, agent_identity=agent_identity(summary.agent), episodes_sha256=episodes_sha256(records),
        training_log=training_log,
    )


def _check_training_log(value: JsonValue) -> TrainingLog | None:
    if value is None:
        return None
    try:
        return parse_training_log(value)
    except limits.Refusal as exc:
        raise _invalid(f"the training log is refused: {exc.message}", exc.field) from None


def agent_identity(agent: AgentInfo) -> str:
    """Who ran: the agent's spec, kind, name and artifact hash (its details, e.g. local paths, excluded)."""
    identity = {"spec": agent.spec, "kind": agent.kind, "name": agent.name, "sha256": agent.sha256}
    return hashlib.sha256(canonical_json(identity).encode("utf-8")).hexdigest()


def episodes_sha256(records: list[EpisodeRecord]) -> str:
    """Hash of the episode outcomes in plan order, without wall-clock timings: a re-run of the same
    deterministic policy hashes the same, however it was scheduled."""
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r.key):
        digest.update(canonical_json(record.outcome()).encode("utf-8") + b"\n")
    return digest.hexdigest()


def _check_envelope(document: JsonValue) -> tuple[dict[str, JsonValue], list[JsonValue], JsonValue]:
    """The body's summary object, its episode lines and its training log (``None`` when it has none)."""
    if not isinstance(document, dict):
        raise _invalid('the body must be a JSON object {"summary": {...}, "episodes": [...]}', "$")
    unknown = sorted(set(document) - {"summary", "episodes", "training_log"})
    if unknown:
        raise _invalid(f'unknown field {unknown[0]!r}: the body has "summary", "episodes" and optionally '
                       '"training_log"', f"$.{unknown[0]}")
    summary, episodes = document.get("summary"), document.get("episodes")
    if not isinstance(summary, dict):
        raise _invalid("summary is missing or not an object: send the contents of summary.json",
                       "$.summary")
    if not isinstance(episodes, list):
        raise _invalid("episodes is missing or not an array: send the lines of episodes.jsonl",
                       "$.episodes")
    return summary, episodes, document.get("training_log")


def _rebase(error: str, root: str) -> str:
    """``$.a.b: msg`` from the schema validator -> ``{root}.a.b: msg``."""
    return root + error[1:] if error.startswith("$") else f"{root}: {error}"


def _refuse_schema(errors: list[str]) -> None:
    if errors:
        field = errors[0].split(":", 1)[0]
        raise _invalid(f"the bundle does not match its JSON Schema: {errors[0]}", field, errors[:MAX_LISTED_ERRORS])


def _check_episode_schema(episodes: list[JsonValue]) -> list[dict[str, JsonValue]]:
    """The episode lines, each an object of the episode schema."""
    errors: list[str] = []
    for index, line in enumerate(episodes):
        if len(errors) >= MAX_LISTED_ERRORS:
            break
        errors += [_rebase(e, f"$.episodes[{index}]") for e in schema_errors("episode", line)]
    _refuse_schema(errors)
    return [line for line in episodes if isinstance(line, dict)]  # all of them: the schema wants objects


def _check_summary_schema(summary: dict[str, JsonValue]) -> Summary:
    """The summary, checked against its JSON Schema, as the typed model."""
    _refuse_schema([_rebase(e, "$.summary") for e in schema_errors("summary", summary)])
    try:
        typed = Summary.model_validate(summary)
    except ValidationError as exc:  # the schema passed, so only a hostile corner gets here: refused all the same
        paths = [_loc_path("$.summary", error["loc"]) for error in exc.errors()]
        errors = [f"{path}: {error['msg']}" for path, error in zip(paths, exc.errors(), strict=True)]
        raise _invalid(f"the summary passes its JSON Schema but not the summary model the server reads: {errors[0]}",
                       paths[0], errors[:MAX_LISTED_ERRORS]) from None
    for key, value in (("name", typed.agent.name), ("kind", typed.agent.kind)):
        limit = FIELD_LIMITS[key]
        if len(value) > limit:
            raise _invalid(f"agent {key} is {len(value)} characters; at most {limit} are accepted",
                           f"$.summary.agent.{key}")
    return typed


def _loc_path(root: str, loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a JSON path: ``("tasks", "a", "n")`` -> ``$.summary.tasks.a.n``."""
    return root + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def _check_protocol(claimed: ProtocolRef, *, allow_deprecated: bool) -> Protocol:
    try:
        protocol = get_protocol(claimed.id, allow_deprecated=True)
    except UnknownNameError as exc:
        raise _invalid(str(exc), "$.summary.protocol.id") from None
    except UserError as exc:  # a broken protocol file on the server: still the bundle's protocol that fails
        raise _invalid(str(exc), "$.summary.protocol.id") from None
    if protocol.deprecated and not allow_deprecated:
        raise _invalid(f"protocol {protocol.id} is deprecated and takes no new submissions: "
                       f"{protocol.deprecated}", "$.summary.protocol.id")
    if claimed.version != protocol.version:
        raise _invalid(f"protocol version {claimed.version} does not match the id {protocol.id} "
                       f"(version {protocol.version})", "$.summary.protocol.version")
    if claimed.sha256 != protocol.sha256():
        raise BundleRejectedError(
            422,
            f"protocol hash mismatch: the bundle was run under {protocol.id} with hash {claimed.sha256}, but "
            f"this server's {protocol.id} has hash {protocol.sha256()}. The rules differ; re-run the evaluation "
            "with a vla-bench whose protocol files match the server's",
            "$.summary.protocol.sha256",
        )
    return protocol


def _check_run(summary: Summary, protocol: Protocol) -> None:
    if summary.status != "complete":
        raise _invalid(f"the run is {summary.status!r}; only complete runs go on the leaderboard "
                       "(finish it with `vla-bench eval --resume --out DIR`)", "$.summary.status")
    if summary.official is not True:
        raise _invalid("the run is unofficial (limited with --limit-episodes or otherwise deviating from "
                       f"the protocol); the leaderboard takes only official runs of all {protocol.n_episodes}"
                       f" planned episodes of {protocol.id}", "$.summary.official")
    if summary.n_episodes_planned != protocol.n_episodes:
        raise _invalid(f"n_episodes_planned is {summary.n_episodes_planned}, but {protocol.id} plans "
                       f"{protocol.n_episodes} episodes", "$.summary.n_episodes_planned")
    if summary.scores is None:
        raise _invalid("the summary has no scores (a run that never finished)", "$.summary.scores")


def _check_plan(protocol: Protocol, records: list[EpisodeRecord]) -> None:
    """The episodes must be exactly the protocol's plan: nothing missing, duplicated or foreign; planned seeds."""
    plan = {spec.key: spec for spec in full_plan(protocol)}
    first_index: dict[tuple[str, int], int] = {}
    for index, record in enumerate(records):
        where = f"$.episodes[{index}]"
        if record.key in first_index:
            raise _invalid(f"episode {record.task!r} #{record.episode_index} appears twice "
                           f"($.episodes[{first_index[record.key]}] and {where})", where)
        first_index[record.key] = index
        spec = plan.get(record.key)
        if spec is None:
            raise _invalid(f"episode {record.task!r} #{record.episode_index} is not in {protocol.id}'s "
                           f"plan (tasks {', '.join(protocol.task_names)}; episodes 0.."
                           f"{protocol.episodes_per_task - 1} each)", where)
        if record.seed != spec.seed:
            raise _invalid(f"episode {record.task!r} #{record.episode_index} has seed {record.seed}, but "
                           f"the plan's seed is {spec.seed}", f"{where}.seed")
        if record.init_index != spec.init_index:
            raise _invalid(f"episode {record.task!r} #{record.episode_index} has init_index "
                           f"{record.init_index}, but the plan's is {spec.init_index}",
                           f"{where}.init_index")
    missing = [key for key in plan if key not in first_index]
    if missing:
        listed = ", ".join(f"{task!r} #{index}" for task, index in missing[:MAX_LISTED_KEYS])
        more = f" and {len(missing) - MAX_LISTED_KEYS} more" if len(missing) > MAX_LISTED_KEYS else ""
        raise _invalid(f"{len(missing)} planned episode(s) of {protocol.id} are missing: {listed}{more}",
                       "$.episodes")


def _check_scores(claimed: JsonValue, recomputed: ScoresJson, rel_tol: float) -> None:
    for path, claim, value in _differences(claimed, recomputed, "$.summary.scores", rel_tol):
        raise _invalid(f"claimed score differs from the score recomputed from the episodes: {path} is "
                       f"{_show(claim)} in the bundle, recomputed {_show(value)}", path)


class _Missing:
    """A key the other side lacks (shown as ``absent``)."""


_MISSING: Final = _Missing()


def _show(value: object) -> str:
    return "absent" if value is _MISSING else json.dumps(value)


def _differences(claimed: object, actual: object, path: str, rel_tol: float) -> Iterator[tuple[str, object, object]]:
    """(path, claimed, recomputed) of every leaf that differs, in the recomputed structure's order."""
    if isinstance(actual, dict):
        if not isinstance(claimed, dict):
            yield path, claimed, actual
            return
        for key in sorted(set(claimed) - set(actual)):
            yield f"{path}.{key}", claimed[key], _MISSING
        for key, value in actual.items():
            yield from _differences(claimed.get(key, _MISSING), value, f"{path}.{key}", rel_tol)
    elif isinstance(actual, list):
        if not isinstance(claimed, list) or len(claimed) != len(actual):
            yield path, claimed, actual
            return
        for index, (c, a) in enumerate(zip(claimed, actual, strict=True)):
            yield from _differences(c, a, f"{path}[{index}]", rel_tol)
    elif not _same_leaf(claimed, actual, rel_tol):
        yield path, claimed, actual


def _same_leaf(claimed: object, actual: object, rel_tol: float) -> bool:
    if claimed is _MISSING:
        return False
    if isinstance(actual, bool) or isinstance(claimed, bool) or actual is None or isinstance(actual, str):
        return bool(claimed == actual and type(claimed) is type(actual))
    if isinstance(actual, int | float) and isinstance(claimed, int | float):
        return math.isclose(float(claimed), float(actual), rel_tol=rel_tol, abs_tol=1e-9)
    return False
