"""Join shard bundles of one run into one bundle (``vla-bench merge``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vla_bench.harness.bundle import (
    EPISODES_FILE,
    PROTOCOL_FILE,
    SUMMARY_FILE,
    EpisodeLog,
    build_summary,
    read_bundle,
    write_json_atomic,
)
from vla_bench.harness.plan import limited_plan
from vla_bench.spec import EpisodeRecord
from vla_bench.spec.errors import UserError


def merge_bundles(directories: list[Path], out_dir: Path) -> dict[str, Any]:
    """Records of all shards, each episode once (an episode present in several shards must agree)."""
    if not directories:
        raise UserError("merge needs at least one bundle directory")
    bundles = [read_bundle(directory) for directory in directories]
    first = bundles[0]
    protocol = first.protocol()
    for bundle in bundles[1:]:
        for field in ("protocol", "agent"):
            if bundle.summary[field] != first.summary[field]:
                raise UserError(f"cannot merge {bundle.directory} with {first.directory}: different {field} "
                                f"({bundle.summary[field]} vs {first.summary[field]})")
        if bundle.summary["official"] != first.summary["official"] or \
                bundle.summary["run"].get("limit_episodes") != first.summary["run"].get("limit_episodes"):
            raise UserError(f"cannot merge {bundle.directory} with {first.directory}: different --limit-episodes")
    merged: dict[tuple[str, int], EpisodeRecord] = {}
    for bundle in bundles:
        for record in bundle.records:
            known = merged.get(record.key)
            if known is not None and known.outcome() != record.outcome():
                raise UserError(f"episode {record.key} differs between shards ({bundle.directory}): "
                                "refusing to pick one")
            merged.setdefault(record.key, record)
    plan = limited_plan(protocol, first.summary["run"].get("limit_episodes"))
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
    run = dict(first.summary["run"], shard=None, merged_from=[str(b.directory) for b in bundles])
    summary = build_summary(protocol=protocol, agent=first.summary["agent"], provenance=first.summary["provenance"],
                            run=run, records=records, n_planned=len(plan), official=first.summary["official"],
                            created_at=min(b.summary["created_at"] for b in bundles))
    write_json_atomic(out_dir / PROTOCOL_FILE, protocol.model_dump(mode="json"))
    write_json_atomic(out_dir / SUMMARY_FILE, summary)
    return summary
