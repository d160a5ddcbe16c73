"""Reading and writing a results bundle's files: ``summary.json`` and ``episodes.jsonl``.

The one reader of both, used by the harness (resume, merge, report) and the server (a bundle sent as it is on
disk); pure file parsing and validation. ``episodes.jsonl`` is appended to as episodes finish, so a killed run
loses at most the line being written, which :func:`read_episodes` drops (and ``repair=True`` cuts off).
``summary.json`` is written atomically (:func:`write_summary`), so a reader never sees half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO

from pydantic import JsonValue, ValidationError

from vla_bench.spec.episode import EpisodeRecord
from vla_bench.spec.errors import UserError
from vla_bench.spec.schemas import validate_summary
from vla_bench.spec.summary import Summary

EPISODES_FILE = "episodes.jsonl"
SUMMARY_FILE = "summary.json"
PROTOCOL_FILE = "protocol.json"  # the full protocol the run followed, so a bundle explains itself


class BundleError(UserError):
    """A results bundle that cannot be read as one."""


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON (bundles write non-finite numbers as null)")


def jsonl_lines(path: Path, raw: bytes, what: str = "episode record") -> list[tuple[int, JsonValue]]:
    """(line number, value) of every non-blank line of a JSON-lines file; a line that is not UTF-8 or not
    strict JSON (NaN, Infinity) is a :class:`BundleError` naming the file, the line and the problem."""
    values: list[tuple[int, JsonValue]] = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BundleError(f"{path}:{number}: not UTF-8 text (byte {exc.start + 1} of the line)") from None
        if not text.strip():
            continue
        try:
            values.append((number, json.loads(text, parse_constant=_refuse_constant)))
        except ValueError as exc:
            raise BundleError(f"{path}:{number}: not a valid {what}: {exc}") from None
    return values


def load_summary_json(path: Path) -> JsonValue:
    """``summary.json`` as the JSON document on disk, unvalidated (the server checks it as sent); not UTF-8 or
    not strict JSON (NaN, Infinity) is a :class:`BundleError` naming the file."""
    try:
        value: JsonValue = json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise BundleError(f"{path} is not valid JSON: {exc}") from None
    return value


def parse_summary(document: JsonValue, where: Path | str = SUMMARY_FILE) -> Summary:
    """A summary document checked against the published JSON Schema, then as the typed model."""
    try:
        validate_summary(document)
        return Summary.model_validate(document)
    except ValidationError as exc:  # the schema passed: a model that disagrees with it is our bug, said plainly
        raise BundleError(f"{where}: summary.json passes its schema but not the Summary model: {exc}") from exc
    except ValueError as exc:
        raise BundleError(f"{where}: {exc}") from exc


def read_summary(path: Path) -> Summary:
    return parse_summary(load_summary_json(path), path)


def read_episodes(path: Path, *, repair: bool = False) -> list[EpisodeRecord]:
    """Records of an ``episodes.jsonl``. A final line without its newline is the trace of a killed writer:
    it is ignored (and cut off with ``repair``). Anything else malformed is an error naming the line."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    complete_end = raw.rfind(b"\n") + 1
    if repair and complete_end < len(raw):
        with path.open("r+b") as handle:
            handle.truncate(complete_end)
    records: list[EpisodeRecord] = []
    seen: set[tuple[str, int]] = set()
    for number, value in jsonl_lines(path, raw[:complete_end]):
        if not isinstance(value, dict):
            raise BundleError(f"{path}:{number}: not a valid episode record: a JSON object is expected")
        try:
            record = EpisodeRecord.from_json(value)
        except (ValueError, TypeError) as exc:
            raise BundleError(f"{path}:{number}: not a valid episode record: {exc}") from exc
        if record.key in seen:
            raise BundleError(f"{path}:{number}: episode {record.key} appears twice")
        seen.add(record.key)
        records.append(record)
    return records


class EpisodeLog:
    """Appends one JSON line per finished episode and flushes it, so a SIGKILL loses nothing finished."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] = path.open("a", encoding="utf-8")

    def write(self, record: EpisodeRecord) -> None:
        self._handle.write(json.dumps(record.to_json(), allow_nan=False, separators=(",", ":")) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def write_summary(path: Path, summary: Summary) -> None:
    """``summary.json``, validated against the published schema first: a bundle we write is one we accept."""
    document = summary.to_json()
    validate_summary(document)
    write_json_atomic(path, document)


def write_json_atomic(path: Path, data: dict[str, JsonValue]) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False,
                                     encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, allow_nan=False)
        handle.write("\n")
    os.chmod(handle.name, 0o666 & ~current_umask())  # mkstemp makes 0600; the bundle's files follow the umask
    os.replace(handle.name, path)


def current_umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask
