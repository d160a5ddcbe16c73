"""Join shard bundles of one run into one bundle (``vla-bench merge``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import JsonValue

from vla_bench.harness.bundle import (
    EPISODES_FILE,
    PROTOCOL_FILE,
    SUMMARY_FILE,
    EpisodeLog,
    build_summary,
    read_bundle,
    write_json_atomic,
    write_summary,
)
from vla_bench.protocols.plan import limited_plan
from vla_bench.spec import EpisodeRecord
from vla_bench.spec.errors import UserError
from vla_bench.spec.summary import Summary


def merge_bundles(directories: list[Path], out_dir: Path) -> dict[str, JsonValue]:
    """:func:`merge_summary`'s summary as the summary.json document."""
    return merge_summary(directories, out_dir).to_json()


def merge_summary(directories: list[Path], out_dir: Path) -> Summary:
    """Records of all shards, each episode once (an episode present in several shards must agree)."""
    if not directories:
        raise UserError("merge needs at least one bundle directory")
    bundles = [read_bundle(directory) for directory in directories]
    first = bundles[0].summary_model
    protocol = bundles[0].protocol()
    for bundle in bundles[1:]:
        summary = bundle.summary_model
        for field, mine, theirs in (("protocol", summary.protocol, first.protocol), ("agent", summary.agent,
                                                                                   first.agent)):
            if mine != theirs:
                raise UserError(f"cannot merge {bundle.directory} with {bundles[0].directory}: different {field} "
                                f"({mine.model_dump(exclude_unset=True)} vs {theirs.model_dump(exclude_unset=True)})")
        if summary.official != first.official or \
                summary.run.extra("limit_episodes") != first.run.extra("limit_episodes"):
            raise UserError(f"cannot merge {bundle.directory} with {bundles[0].directory}: different "
                            "--limit-episodes")
    merged: dict[tuple[str, int], EpisodeRecord] = {}
    for bundle in bundles:
        for record in bundle.records:
            known = merged.get(record.key)
            if known is not None and known.outcome() != record.outcome():
                raise UserError(f"episode {record.key} differs between shards ({bundle.directory}): "
                                "refusing to pick one")
            merged.setdefault(record.key, record)
    limit = first.run.extra("limit_episodes")
    plan = limited_plan(protocol, limit if isinstance(limit, int) else None)
    order = {spec.key: position for position, spec in enumerate(plan)}
    foreign = sorted(set(merged) - set(order))
    if foreign:
        raise UserError(f"episodes outside the protocol's plan: {foreign[:5]}")
    records = sorted(merged.values(), key=lambda r: order[r.key])
    out_dir.mkdir(parents=True, exist_ok=True)
    if (out_dir / EPISODES_FILE).exists():
        raise UserError(f"{out_dir} already holds a bundle; choose an empty --out")
    log = EpisodeLog(out_dir / EPISODES_FILE)
    for record in records:
        log.write(record)
    log.close()
    run = first.run.model_copy(update={"shard": None, "merged_from": [str(b.directory) for b in bundles]})
    merged_summary = build_summary(protocol=protocol, agent=first.agent, provenance=first.provenance, run=run,
                                   records=records, n_planned=len(plan), official=first.official,
                                   created_at=min(b.summary_model.created_at for b in bundles))
    write_json_atomic(out_dir / PROTOCOL_FILE, protocol.model_dump(mode="json"))
    write_summary(out_dir / SUMMARY_FILE, merged_summary)
    return merged_summary
