"""What the pages and the database need of a bundle beyond its JSON Schema: every rendered field of the type
and range its page expects, bounded sizes, text the databases can store, and plausible episodes.

The JSON Schemas are shared with the harness and deliberately loose (``git`` is "an object"); a public board
must also refuse what would break its own pages (a revision that is an int, a date past year 9999 in UTC),
its database (NUL or a lone surrogate in text, numbers past 64 bits) or its readers (a 10 MiB agent spec
returned in every leaderboard answer), and numbers no real run produces (an episode longer than the
protocol allows). Each check raises :class:`Refusal` with the JSON path of the offending field.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Sequence

from pydantic import JsonValue

from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.summary import Summary

MAX_INT = 2**63 - 1  # what every database integer column (and most JSON readers) can hold
MAX_ABS_VALUE = 1e12  # a bound on returns and other measures no real episode comes near
MAX_STRING = 2000  # characters in any string of a bundle but the named ones below
MAX_TRAINING_LOG_CHARS = 256 * 1024  # the training CSV (server/training_log.py); the bundled PPO logs are ~30 KB
STRING_LIMITS = {"$.summary.agent.name": 200, "$.summary.agent.kind": 64, "$.summary.agent.spec": 1000,
                 "$.summary.agent.training.group": 100,
                 "$.summary.created_at": 64, "$.summary.finished_at": 64,
                 "$.summary.provenance.harness_version": 64, "$.summary.provenance.renderer": 64,
                 "$.training_log.csv": MAX_TRAINING_LOG_CHARS}
MAX_ERROR_STRING = 8000  # an episode's error message (an exception's text)
MAX_TIMINGS = 16
MAX_OBJECT_BYTES = 16 * 1024  # each free-form object (agent.details, provenance.*, run) as compact JSON
MAX_DEPTH = 8
MAX_COMMAND_ITEMS = 200
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
CLOCK_SKEW = dt.timedelta(days=1)
REVISION = re.compile(r"^[0-9a-f]{4,64}$")
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class Refusal(ValueError):
    """A bundle field that fails a check; ``field`` is its JSON path."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NumberRangeError(ValueError):
    """A JSON number that no column or computation can take (raised while parsing)."""


def parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NumberRangeError(f"the number {text[:40]} is out of range: only finite 64-bit floats are accepted")
    return value


def parse_int(text: str) -> int:
    if len(text.lstrip("-")) > 19 or not -MAX_INT - 1 <= (value := int(text)) <= MAX_INT:
        raise NumberRangeError(f"the integer {text[:40]} is out of range: integers must fit in 64 bits")
    return value


def check_text(value: JsonValue, path: str = "$", depth: int = 0) -> None:
    """Every string (and key) of ``value``: no NUL, no lone surrogate, at most its length limit; depth bound."""
    if depth > 64:  # the body nests far deeper than any bundle: refused before the walk gets expensive
        raise Refusal("the document nests more than 64 levels deep", path)
    if isinstance(value, str):
        _check_string(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_string(key, f"{path} (a key)", limit=200)
            check_text(item, f"{path}.{key}" if _plain(key) else f"{path}[{json.dumps(key)}]", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_text(item, f"{path}[{index}]", depth + 1)


def _plain(key: str) -> bool:
    return key.isidentifier()


def _check_string(value: str, path: str, limit: int | None = None) -> None:
    found = _BAD_TEXT.search(value)
    if found:
        what = "a NUL character" if found.group() == "\x00" else f"a lone surrogate U+{ord(found.group()):04X}"
        raise Refusal(f"{path} contains {what}, which is not text any database can store", path)
    bound = limit or STRING_LIMITS.get(path) or (MAX_ERROR_STRING if path.endswith(".error") else MAX_STRING)
    if len(value) > bound:
        raise Refusal(f"{path} is {len(value)} characters; at most {bound} are accepted", path)


def check_summary(summary: Summary, protocol: Protocol, now: dt.datetime) -> None:
    """The summary fields a page renders, beyond their JSON Schema types."""
    for key, time in (("created_at", summary.created_at), ("finished_at", summary.finished_at)):
        if time is not None:
            _check_time(time, f"$.summary.{key}", now)
    provenance = summary.provenance
    revision, dirty = provenance.git.get("revision"), provenance.git.get("dirty")
    if revision is not None and not (isinstance(revision, str) and REVISION.match(revision)):
        raise Refusal("provenance.git.revision must be a git commit hash (4 to 64 lowercase hex digits) or "
                      f"null, not {_short(revision)}", "$.summary.provenance.git.revision")
    if dirty is not None and not isinstance(dirty, bool):
        raise Refusal(f"provenance.git.dirty must be true, false or null, not {_short(dirty)}",
                      "$.summary.provenance.git.dirty")
    if len(provenance.command or []) > MAX_COMMAND_ITEMS:
        raise Refusal(f"provenance.command has more than {MAX_COMMAND_ITEMS} items", "$.summary.provenance.command")
    # every key of provenance as sent, in its order (declared and free ones alike)
    provenance_keys = provenance.model_dump(mode="json", exclude_unset=True)
    free_form: list[tuple[str, JsonValue]] = [
        ("$.summary.agent.details", summary.agent.details),
        ("$.summary.run", summary.run.model_dump(mode="json", exclude_unset=True)),
        *((f"$.summary.provenance.{key}", value) for key, value in provenance_keys.items())]
    for path, value in free_form:
        _check_object_size(value, path)
    limit_episodes = summary.run.extra("limit_episodes")
    if summary.official is True and limit_episodes is not None:
        raise Refusal(f"the run claims to be official but ran with limit_episodes={_short(limit_episodes)}",
                      "$.summary.run.limit_episodes")
    del protocol  # the summary checks are the same for every protocol


def _check_time(value: str, path: str, now: dt.datetime) -> None:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise Refusal(f"{path} must be an ISO 8601 date-time with a UTC offset, e.g. "
                      f"2026-01-31T12:00:00+00:00, not {_short(value)}", path) from None
    if parsed.tzinfo is None:
        raise Refusal(f"{path} must carry a UTC offset (e.g. +00:00): {_short(value)}", path)
    try:
        parsed = parsed.astimezone(dt.UTC)
    except OverflowError:
        raise Refusal(f"{path} {_short(value)} is out of range", path) from None
    if not EARLIEST <= parsed <= now + CLOCK_SKEW:
        raise Refusal(f"{path} {_short(value)} is implausible: it must lie between "
                      f"{EARLIEST:%Y-%m-%d} and the server's clock ({now:%Y-%m-%d %H:%M} UTC)", path)


def _check_object_size(value: JsonValue, path: str) -> None:
    if value is None:
        return
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    if size > MAX_OBJECT_BYTES:
        raise Refusal(f"{path} is {size} characters as JSON; at most {MAX_OBJECT_BYTES} are accepted", path)
    if _depth(value) > MAX_DEPTH:
        raise Refusal(f"{path} nests more than {MAX_DEPTH} levels deep", path)


def _depth(value: JsonValue) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def check_episodes(records: Sequence[EpisodeRecord], protocol: Protocol) -> None:
    """Plausible episodes under ``protocol``: lengths within max_steps, success after at most ``length`` steps,
    a return unless the episode failed with an error, bounded measures. ``records[i]`` is ``$.episodes[i]``,
    read from a line of the episode schema (a ``null`` return is NaN)."""
    chain_length = protocol.chain.length if protocol.chain is not None else None
    for index, record in enumerate(records):
        where = f"$.episodes[{index}]"
        length = record.length
        if length > protocol.max_steps:
            raise Refusal(f"{where}.length is {length}, but {protocol.id} stops episodes after "
                          f"{protocol.max_steps} steps", f"{where}.length")
        step = record.success_step
        if step is not None and step > length:
            raise Refusal(f"{where}.success_step is {step}, after the episode's last step ({length})",
                          f"{where}.success_step")
        if math.isnan(record.total_return) and record.error_kind is None:
            raise Refusal(f"{where}.total_return is null, but the episode has no error (error_kind is null): "
                          "only a failed episode may lack a return", f"{where}.total_return")
        for key, value in (("total_return", record.total_return), ("action_smoothness", record.action_smoothness)):
            if value is not None and abs(value) > MAX_ABS_VALUE:
                raise Refusal(f"{where}.{key} is {value:g}; values beyond ±{MAX_ABS_VALUE:g} are implausible",
                              f"{where}.{key}")
        if len(record.timings) > MAX_TIMINGS:
            raise Refusal(f"{where}.timings has {len(record.timings)} entries; at most {MAX_TIMINGS} are accepted",
                          f"{where}.timings")
        for key, seconds in record.timings.items():
            if not 0 <= seconds <= MAX_ABS_VALUE:
                raise Refusal(f"{where}.timings.{key} is {seconds:g} s; timings are between 0 and "
                              f"{MAX_ABS_VALUE:g} s", f"{where}.timings.{key}")
        completed = record.subtasks_completed
        if chain_length is not None and completed is not None and completed > chain_length:
            raise Refusal(f"{where}.subtasks_completed is {completed}, but {protocol.id}'s chains have "
                          f"{chain_length} subtasks", f"{where}.subtasks_completed")


def _short(value: JsonValue) -> str:
    text = json.dumps(value, ensure_ascii=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
