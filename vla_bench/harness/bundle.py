"""The results bundle on disk: ``summary.json`` + ``episodes.jsonl`` (one flushed line per finished episode).

``summary.json`` is written at the start of a run (``status: running``, no scores) and rewritten atomically
at the end; ``episodes.jsonl`` is appended to as episodes finish, so a killed run loses at most the line
being written, which :func:`read_episodes` drops (and ``repair=True`` cuts off) before a resume.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from vla_bench.harness.scoring import compute_scores
from vla_bench.spec import SUMMARY_SCHEMA_ID, EpisodeRecord, Protocol
from vla_bench.spec.errors import UserError
from vla_bench.spec.schemas import validate_summary

EPISODES_FILE = "episodes.jsonl"
SUMMARY_FILE = "summary.json"
PROTOCOL_FILE = "protocol.json"  # the full protocol the run followed, so a bundle explains itself


class BundleError(UserError):
    """A results bundle that cannot be read as one."""


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


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON (bundles write non-finite numbers as null)")


def jsonl_lines(path: Path, raw: bytes, what: str = "episode record") -> list[tuple[int, Any]]:
    """(line number, value) of every non-blank line of a JSON-lines file; a line that is not UTF-8 or not
    strict JSON (NaN, Infinity) is a :class:`BundleError` naming the file, the line and the problem."""
    values = []
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
        try:
            record = EpisodeRecord.from_json(value)
        except (ValueError, TypeError) as exc:
            raise BundleError(f"{path}:{number}: not a valid episode record: {exc}") from exc
        if record.key in seen:
            raise BundleError(f"{path}:{number}: episode {record.key} appears twice")
        seen.add(record.key)
        records.append(record)
    return records


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
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


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def build_summary(
    *,
    protocol: Protocol,
    agent: dict[str, Any],
    provenance: dict[str, Any],
    run: dict[str, Any],
    records: list[EpisodeRecord] | None,
    n_planned: int,
    official: bool,
    created_at: str,
) -> dict[str, Any]:
    """``records=None`` for the summary written when a run starts (status running, no scores)."""
    done = len(records) if records is not None else 0
    status = "running" if records is None else ("complete" if done == n_planned else "incomplete")
    summary: dict[str, Any] = {
        "schema": SUMMARY_SCHEMA_ID,
        "status": status,
        "official": official,
        "created_at": created_at,
        "finished_at": None if records is None else now_iso(),
        "protocol": {"id": protocol.id, "version": protocol.version, "sha256": protocol.sha256()},
        "agent": agent,
        "provenance": provenance,
        "run": run,
        "n_episodes_planned": n_planned,
        "n_episodes_done": done,
        "scores": None if records is None else compute_scores(protocol, records),
    }
    validate_summary(summary)
    return summary


@dataclass
class Bundle:
    directory: Path
    summary: dict[str, Any]
    records: list[EpisodeRecord]

    def protocol(self) -> Protocol:
        """The protocol the bundle was run under: its own copy, else the registry's; the hash must match."""
        claimed = self.summary["protocol"]
        copy = self.directory / PROTOCOL_FILE
        if copy.is_file():
            try:
                protocol = Protocol.model_validate_json(copy.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise BundleError(f"{copy} is not a valid protocol: {exc}") from exc
        else:
            from vla_bench.harness.registry import get_protocol  # noqa: PLC0415 - registry reads package data

            protocol = get_protocol(claimed["id"], allow_deprecated=True)
        if protocol.sha256() != claimed["sha256"] or protocol.id != claimed["id"]:
            raise BundleError(f"{self.directory}: summary.json names {claimed['id']} with hash "
                              f"{claimed['sha256'][:12]}, but the protocol found is {protocol.id} with hash "
                              f"{protocol.sha256()[:12]}")
        return protocol


def read_bundle(directory: Path) -> Bundle:
    summary_path = directory / SUMMARY_FILE
    if not summary_path.is_file():
        raise BundleError(f"{directory} is not a results bundle: {SUMMARY_FILE} is missing")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BundleError(f"{summary_path} is not valid JSON: {exc}") from exc
    try:
        validate_summary(summary)
    except ValueError as exc:
        raise BundleError(f"{summary_path}: {exc}") from exc
    return Bundle(directory=directory, summary=summary, records=read_episodes(directory / EPISODES_FILE))
