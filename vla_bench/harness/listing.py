"""What ``vla-bench list`` shows: benchmarks, protocols and agents as rows, filtered, in three renderings.

On a terminal: Rich tables whose id column never shrinks. Anywhere else (a pipe, a file): one line per
entry, the full id first and the details after a tab, so ``grep``/``cut -f1`` work. ``--json``: the rows.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from rich.console import Console
from rich.table import Table

from vla_bench import protocols
from vla_bench.harness import registry

SECTIONS = ("benchmarks", "protocols", "agents")
ALGO_NAMES = {"bc": "behaviour cloning", "dagger": "DAgger", "ppo": "PPO", "sac": "SAC", "iql": "IQL",
              "cql": "CQL", "td3bc": "TD3+BC"}


@dataclass(frozen=True)
class Row:
    section: str
    id: str
    benchmark: str | None
    description: str
    details: Mapping[str, object]  # JSON (`vla-bench list --json`)


def matches(row: Row, patterns: list[str], benchmark: str | None) -> bool:
    if benchmark is not None and row.benchmark != benchmark:
        return False
    text = f"{row.id} {row.description}".lower()
    for pattern in (p.lower() for p in patterns):
        is_glob = any(c in pattern for c in "*?[")
        if not (fnmatch.fnmatchcase(row.id.lower(), pattern) if is_glob else pattern in text):
            return False
    return True


def benchmark_rows() -> list[Row]:
    return [Row("benchmarks", name, name, protocols.benchmark_description(name),
                {"protocols": len(protocols.protocol_ids(name))}) for name in protocols.benchmark_names()]


def protocol_rows() -> list[Row]:
    rows = []
    for protocol_id in protocols.protocol_ids():
        p = protocols.get_protocol(protocol_id, allow_deprecated=True)
        details = {"tasks": len(p.tasks), "episodes_per_task": p.episodes_per_task, "max_steps": p.max_steps,
                   "observation": p.observation.mode, "metric": p.primary_metric, "deprecated": p.deprecated}
        description = (f"{len(p.tasks)} task(s) × {p.episodes_per_task} episodes, ≤{p.max_steps} steps, "
                       f"{p.observation.mode}, {p.primary_metric}" + (" (deprecated)" if p.deprecated else ""))
        rows.append(Row("protocols", p.id, p.benchmark, description, details))
    return rows


def trained_on(manifest: Mapping[str, object]) -> str:
    """One line on how a bundled agent was trained, from its manifest."""
    algo = str(manifest.get("algo", "?"))
    name = ALGO_NAMES.get(algo, algo)
    config = manifest.get("config")
    protocol = manifest.get("protocol")
    steps = manifest.get("steps")
    dataset = manifest.get("dataset")
    if isinstance(dataset, dict) and dataset:
        stem = str(dataset.get("path", "")).rsplit("/", 1)[-1].removesuffix(".hdf5") or "a dataset"
        text = f"{name} on the {stem} dataset ({dataset.get('n_steps', '?'):,} transitions)"
    elif manifest.get("expert") and algo == "bc":
        text = f"{name} of {manifest.get('aggregate_size', '?'):,} demonstration steps by {manifest['expert']}"
    elif manifest.get("expert"):
        text = f"{name} imitating {manifest['expert']}"
        if isinstance(config, dict) and "iterations" in config:
            text += f" ({config['iterations']} iterations, {manifest.get('aggregate_size', '?'):,} labelled steps)"
    else:
        text = f"{name}" + (f" ({manifest['library']})" if manifest.get("library") else "")
        if isinstance(steps, int):
            text += f", {steps:,} environment steps"
    if protocol:
        text += f"; for {protocol}"
    if manifest.get("seed") is not None:
        text += f", seed {manifest['seed']}"
    return text


def agent_rows() -> list[Row]:
    from vla_bench.agents.exported import agents_dir, bundled_names, read_manifest  # noqa: PLC0415

    rows = [Row("agents", name, None, text, {"kind": "builtin" if name.startswith("baseline:") else "form"})
            for name, text in registry.agent_names().items()]
    for name in bundled_names():
        manifest = read_manifest(agents_dir() / name)
        protocol = manifest.get("protocol")
        benchmark = protocol.split("/", 1)[0] if isinstance(protocol, str) else None
        rows.append(Row("agents", f"baseline:{name}", benchmark, f"trained: {trained_on(manifest)}",
                        {"kind": "bundled", "algo": manifest.get("algo"), "protocol": protocol,
                         "seed": manifest.get("seed"), "steps": manifest.get("steps")}))
    # the built-in agents run on every benchmark, so they stay when filtering by benchmark
    return rows


def collect(sections: list[str], patterns: list[str], benchmark: str | None) -> list[Row]:
    makers = {"benchmarks": benchmark_rows, "protocols": protocol_rows, "agents": agent_rows}
    rows: list[Row] = []
    for section in sections:
        rows += [r for r in makers[section]()
                 if matches(r, patterns, benchmark if r.benchmark is not None or section != "agents" else None)]
    return rows


def as_json(rows: list[Row]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2)


def plain(rows: list[Row], sections: list[str]) -> str:
    lines = []
    for section in sections:
        chosen = [r for r in rows if r.section == section]
        if len(sections) > 1:
            lines.append(f"# {section}")
        lines += [f"{r.id}\t{r.description}" for r in chosen]
    return "\n".join(lines) + ("\n" if lines else "")


def print_tables(rows: list[Row], sections: list[str], console: Console) -> None:
    titles = {"benchmarks": "benchmarks", "protocols": "protocols", "agents": "agents (--agent)"}
    for section in sections:
        chosen = [r for r in rows if r.section == section]
        table = Table(title=f"{titles[section]}: {len(chosen)}", title_justify="left")
        table.add_column("id" if section != "agents" else "agent", no_wrap=True)  # ids are never cut
        table.add_column("description", overflow="fold")
        for row in chosen:
            table.add_row(row.id, row.description)
        console.print(table)
