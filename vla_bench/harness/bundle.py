"""The results bundle as the harness builds it: the scored :class:`Summary` and :class:`Bundle` (a bundle read
back with its protocol). The files themselves are read and written by ``spec.bundle`` (re-exported here).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import JsonValue

from vla_bench.scoring.scores import compute_scores
from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.bundle import (
    EPISODES_FILE,
    PROTOCOL_FILE,
    SUMMARY_FILE,
    BundleError,
    EpisodeLog,
    jsonl_lines,
    read_episodes,
    read_summary,
    write_json_atomic,
    write_summary,
)
from vla_bench.spec.schemas import validate_summary
from vla_bench.spec.summary import AgentInfo, ProtocolRef, Provenance, RunInfo, Scores, Summary

__all__ = ["EPISODES_FILE", "PROTOCOL_FILE", "SUMMARY_FILE", "Bundle", "BundleError", "EpisodeLog",
           "build_summary", "jsonl_lines", "now_iso", "read_bundle", "read_episodes", "write_json_atomic",
           "write_summary"]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def build_summary(
    *,
    protocol: Protocol,
    agent: AgentInfo | dict[str, JsonValue],
    provenance: Provenance | dict[str, JsonValue],
    run: RunInfo | dict[str, JsonValue],
    records: list[EpisodeRecord] | None,
    n_planned: int,
    official: bool,
    created_at: str,
) -> Summary:
    """``records=None`` for the summary written when a run starts (status running, no scores). The blocks
    come as models (a bundle read back) or as the JSON the run's parts describe themselves with."""
    done = len(records) if records is not None else 0
    summary = Summary(
        status="running" if records is None else ("complete" if done == n_planned else "incomplete"),
        official=official,
        created_at=created_at,
        finished_at=None if records is None else now_iso(),
        protocol=ProtocolRef(id=protocol.id, version=protocol.version, sha256=protocol.sha256()),
        agent=AgentInfo.model_validate(agent),
        provenance=Provenance.model_validate(provenance),
        run=RunInfo.model_validate(run),
        n_episodes_planned=n_planned,
        n_episodes_done=done,
        scores=None if records is None else Scores.model_validate(compute_scores(protocol, records)),
    )
    validate_summary(summary.to_json())  # the published schema's patterns and bounds, which the model leaves out
    return summary


@dataclass
class Bundle:
    directory: Path
    summary_model: Summary
    records: list[EpisodeRecord]

    @property
    def summary(self) -> dict[str, Any]:
        """``summary.json`` as the JSON document on disk (equal to it: the model writes back what it read);
        code of ours reads :attr:`summary_model`."""
        return self.summary_model.to_json()

    def protocol(self) -> Protocol:
        """The protocol the bundle was run under: its own copy, else the registry's; the hash must match."""
        claimed = self.summary_model.protocol
        copy = self.directory / PROTOCOL_FILE
        if copy.is_file():
            try:
                protocol = Protocol.model_validate_json(copy.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise BundleError(f"{copy} is not a valid protocol: {exc}") from exc
        else:
            from vla_bench.protocols import get_protocol  # noqa: PLC0415 - registry reads package data

            protocol = get_protocol(claimed.id, allow_deprecated=True)
        if protocol.sha256() != claimed.sha256 or protocol.id != claimed.id:
            raise BundleError(f"{self.directory}: summary.json names {claimed.id} with hash "
                              f"{claimed.sha256[:12]}, but the protocol found is {protocol.id} with hash "
                              f"{protocol.sha256()[:12]}")
        return protocol


def read_bundle(directory: Path) -> Bundle:
    summary_path = directory / SUMMARY_FILE
    if not summary_path.is_file():
        raise BundleError(f"{directory} is not a results bundle: {SUMMARY_FILE} is missing")
    return Bundle(directory=directory, summary_model=read_summary(summary_path),
                  records=read_episodes(directory / EPISODES_FILE))
