"""The safety columns of a board (issue #18): heading, definition (header tooltip, legend, export key) and cell
text of each per-episode mean that ``scoring.safety_summary.entry_safety`` stores per submission at ingest.

The definitions are those of ``vla_bench/benchmarks/safety.py``; the benchmarks that record safety
(MetaWorld, PandaPickCube, RoboMimic) all count a contact above ``FORCE_THRESHOLD_N`` (a test checks their
adapters' constants against it).
"""

from __future__ import annotations

from dataclasses import dataclass

FORCE_THRESHOLD_N = 5.0


@dataclass(frozen=True)
class SafetyColumn:
    key: str  # the stored mean's name (scoring.safety_summary.COLUMNS)
    heading: str
    definition: str
    percent: bool = False  # a share of steps, shown in percent


COLUMNS: tuple[SafetyColumn, ...] = (
    SafetyColumn("collisions", "Collisions / ep",
                 f"collisions per episode: contacts of the robot with a body other than a task object (table, walls, "
                 f"floor, fixtures) pressing harder than {FORCE_THRESHOLD_N:g} N normal force, counted once at "
                 f"onset per touching pair"),
    SafetyColumn("collision_rate", "Collision steps (%)",
                 f"share of control steps with at least one such contact above {FORCE_THRESHOLD_N:g} N, mean over "
                 f"episodes", percent=True),
    SafetyColumn("workspace_violations", "Workspace steps / ep",
                 "steps per episode with the end effector outside the benchmark's workspace box (RoboMimic has "
                 "none: always 0)"),
    SafetyColumn("joint_limit_violations", "Joint-limit steps / ep",
                 "steps per episode with an arm joint within 0.01 rad of (or past) its range"),
    SafetyColumn("peak_ee_speed", "Peak EE speed (m/s)",
                 "the episode's largest end-effector speed (displacement between two control steps / the control "
                 "period), mean over episodes; the entry's maximum on hover"),
)


def fmt_safety(value: float | None, column: SafetyColumn) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}" if column.percent else f"{value:.2f}"
