"""A bundle's provenance as key/value tables for the submission page.

Bundles carry free-form JSON (agent details, machine, packages, the command line). The page shows it as
tables, nested objects flattened into dotted keys, never as Python reprs; and whatever looks like a local
filesystem path (``/tmp/…``, ``~/…``, ``C:\\…``) is withheld: it says something about the submitter's machine
and nothing about the result. The bundle download is unchanged (its hash is part of the record).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import overload

from pydantic import JsonValue

WITHHELD = "(local path withheld)"
# A path starts a token (after a space, '=', a quote or a bracket), never inside a word: "mujoco/hopper@v1",
# "1/2" and URLs ("https://host/x") are left alone.
LOCAL_PATH = re.compile(r"""(?<![\w.:/~\\-])(?:~[\w.-]*/|[A-Za-z]:[\\/]|/(?=[\w.~-]))[^\s,;'"()\[\]{}]*""")
MAX_DEPTH = 6  # deeper JSON is shown as compact JSON text (bundles limit nesting anyway)
FOLD_ROWS = 8  # a table with more rows than this, or more text than FOLD_CHARS, starts folded
FOLD_CHARS = 400


@dataclass(frozen=True)
class Row:
    key: str
    text: str
    code: bool = False  # monospace: hashes, specs, command lines
    words: tuple[str, ...] = ()  # a command line's arguments: each kept on one line ("--workers", not "-/-workers")


@dataclass(frozen=True)
class Table:
    title: str
    rows: tuple[Row, ...]
    foldable: bool = True

    @property
    def folded(self) -> bool:
        long = len(self.rows) > FOLD_ROWS or sum(len(r.key) + len(r.text) for r in self.rows) > FOLD_CHARS
        return self.foldable and long


def withhold_paths(text: str) -> str:
    return LOCAL_PATH.sub(WITHHELD, text)


def shorten_paths(text: str) -> str:
    """Local paths cut to their last component ("/home/ann/policy.py:Pi" -> "policy.py:Pi"): an agent's name
    stays recognisable without publishing where it lives."""
    def last(match: re.Match[str]) -> str:
        token = match.group(0)
        body = token[2:] if re.match(r"[A-Za-z]:", token) else token  # a drive letter's colon is not a separator
        path, colon, rest = body.partition(":")
        name = re.split(r"[\\/]", path.rstrip("/\\"))[-1]
        return (name or WITHHELD) + colon + rest

    return LOCAL_PATH.sub(last, text)


@overload
def withhold_json(value: dict[str, JsonValue]) -> dict[str, JsonValue]: ...
@overload
def withhold_json(value: JsonValue) -> JsonValue: ...
def withhold_json(value: JsonValue) -> JsonValue:
    """A JSON value with local paths withheld in every string (for the API's copy of the provenance)."""
    if isinstance(value, str):
        return withhold_paths(value)
    if isinstance(value, Mapping):
        return {key: withhold_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [withhold_json(item) for item in value]
    return value


def scalar_text(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return withhold_paths(value)
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return withhold_paths(json.dumps(value, sort_keys=True, default=str))


def flatten(value: object, prefix: str = "", depth: int = 0) -> list[Row]:
    """Key/value rows of a JSON value: objects become dotted keys, lists of objects numbered keys."""
    if isinstance(value, Mapping) and value and depth < MAX_DEPTH:
        return [row for key, item in value.items()
                for row in flatten(item, f"{prefix}.{key}" if prefix else str(key), depth + 1)]
    if isinstance(value, list) and value and depth < MAX_DEPTH:
        if all(not isinstance(v, Mapping | list) for v in value) and sum(len(str(v)) for v in value) <= 120:
            return [Row(prefix or "value", ", ".join(scalar_text(v) for v in value))]
        return [row for i, item in enumerate(value, 1) for row in flatten(item, f"{prefix or 'item'} {i}", depth + 1)]
    return [Row(prefix or "value", scalar_text(value))]


def command_text(command: object) -> str:
    """The command line, its arguments joined by spaces, local paths withheld argument by argument."""
    if isinstance(command, list):
        return " ".join(scalar_text(part) for part in command)
    return scalar_text(command)


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _git_text(git: object) -> str | None:
    git = _mapping(git)
    revision = git.get("revision")
    if not isinstance(revision, str) or not revision:
        return None
    return f"git {revision[:12]}" + (" (dirty tree)" if git.get("dirty") is True else "")


def provenance_tables(*, agent: object, provenance: object, run: object, record: Mapping[str, object]) -> list[Table]:
    """The tables, most useful first. ``record``: fields the server stored (spec, kind, sha256, protocol…)
    used where the bundle's own blocks lack them."""
    agent, provenance, run = _mapping(agent), _mapping(provenance), _mapping(run)
    harness = f"vla-bench {scalar_text(provenance.get('harness_version', record.get('harness_version')))}"
    git = _git_text(provenance.get("git"))
    main = [
        Row("Agent", f"{scalar_text(agent.get('spec', record.get('agent_spec')))} "
                     f"({scalar_text(agent.get('kind', record.get('agent_kind')))})", code=True),
        Row("Agent artifact sha256", scalar_text(record.get("agent_sha256")) if record.get("agent_sha256")
            else "none (not a file artifact)", code=bool(record.get("agent_sha256"))),
        Row("Protocol", f"{scalar_text(record.get('protocol_id'))} · {scalar_text(record.get('protocol_sha256'))}",
            code=True),
        Row("Harness", harness + (f" · {git}" if git else "")),
        Row("Finished", scalar_text(record.get("finished"))),
        Row("Renderer", scalar_text(provenance.get("renderer")) if provenance.get("renderer") else "–"),
    ]
    if "command" in provenance:
        command = provenance["command"]
        words = tuple(scalar_text(part) for part in command) if isinstance(command, list) else ()
        main.append(Row("Command", command_text(command), code=True, words=words))
    tables = [Table("Run record", tuple(main), foldable=False)]
    details = _mapping(agent.get("details"))
    plain = {k: v for k, v in details.items() if not isinstance(v, Mapping)}
    tables += _tables("Agent details", [(None, plain)] if plain else [])
    tables += _tables("Agent details", [(k, v) for k, v in details.items() if isinstance(v, Mapping)])
    tables += _tables("Run settings", [(None, run)])
    shown = {"harness_version", "git", "renderer", "command"}
    tables += _tables("", [(k.replace("_", " ").capitalize(), provenance[k]) for k in
                           ("simulator", "machine", "packages") if k in provenance])
    tables += _tables("", [(k.replace("_", " ").capitalize(), v) for k, v in provenance.items()
                           if k not in shown | {"simulator", "machine", "packages"}])
    return tables


def _tables(title: str, parts: Iterable[tuple[str | None, object]]) -> list[Table]:
    tables = []
    for name, value in parts:
        rows = flatten(value)
        if isinstance(value, Mapping) and not value:
            continue
        full = " · ".join(t for t in (title, name) if t)
        tables.append(Table(full or "Provenance", tuple(rows)))
    return tables
