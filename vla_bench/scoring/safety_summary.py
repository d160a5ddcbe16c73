"""Per-task safety totals of a run, from the ``safety`` field of its episode records (benchmarks/safety.py)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from vla_bench.scoring.scores import mean_interval
from vla_bench.spec import EpisodeRecord

COLUMNS = ("collisions", "collision_rate", "workspace_violations", "joint_limit_violations", "peak_ee_speed")


def entry_safety(rows: Iterable[Mapping[str, float] | None]) -> dict[str, float] | None:
    """One entry's safety on a board: each column's mean per episode over the episodes that record safety
    (``rows``: each episode's ``safety`` field, None where absent), ``max_peak_ee_speed`` and their number
    ``n``; None when no episode records any (a benchmark whose simulator cannot tell). Plain ``math.fsum``
    so that the server's stored value and migration 0006's backfill agree to the last bit."""
    found = [row for row in rows if row is not None]
    if not found:
        return None
    n = len(found)
    entry: dict[str, float] = {column: math.fsum(float(row.get(column, 0.0)) for row in found) / n
                               for column in COLUMNS}
    entry["max_peak_ee_speed"] = max(float(row.get("peak_ee_speed", 0.0)) for row in found)
    entry["n"] = n
    return entry


def safety_summary(records: Sequence[EpisodeRecord]) -> dict[str, dict[str, Any]]:
    """task -> {metric: {"mean", "ci95"} over its episodes, "max_peak_ee_speed", "n"}; tasks without safety
    records are left out (benchmarks whose simulator cannot tell)."""
    by_task: dict[str, list[dict[str, float]]] = {}
    for record in records:
        if record.safety is not None:
            by_task.setdefault(record.task, []).append(record.safety)
    summary: dict[str, dict[str, Any]] = {}
    for task, rows in by_task.items():
        entry: dict[str, Any] = {"n": len(rows)}
        for column in COLUMNS:
            mean, low, high = mean_interval([row.get(column, 0.0) for row in rows])
            entry[column] = {"mean": mean, "ci95": [low, high]}
        entry["max_peak_ee_speed"] = float(np.max([row.get("peak_ee_speed", 0.0) for row in rows]))
        summary[task] = entry
    return summary


def markdown(summary: dict[str, dict[str, Any]]) -> str:
    header = ("| task | n | collisions / episode | collision rate (steps) | workspace violations / episode | "
              "joint-limit steps / episode | peak EE speed m/s (mean, max) |")
    lines = [header, "|---|---|---|---|---|---|---|"]
    for task, entry in summary.items():
        cells = [f"{entry[c]['mean']:.2f} [{entry[c]['ci95'][0]:.2f}, {entry[c]['ci95'][1]:.2f}]"
                 for c in COLUMNS[:4]]
        cells[1] = f"{100 * entry['collision_rate']['mean']:.1f}%"
        speed = f"{entry['peak_ee_speed']['mean']:.2f}, {entry['max_peak_ee_speed']:.2f}"
        lines.append(f"| {task} | {entry['n']} | " + " | ".join(cells) + f" | {speed} |")
    return "\n".join(lines) + "\n"
