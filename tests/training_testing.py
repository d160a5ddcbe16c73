"""Helpers for the trainer tests: reading back what a trainer's checkpoint records."""

from __future__ import annotations

import json
from pathlib import Path

from vla_bench.training.algorithm import Problem


def checkpoint_problem(run: Path) -> Problem:
    """The run's :class:`Problem` from ``checkpoint/state.json`` (``dataclasses.asdict``: the action box as lists)."""
    saved = json.loads((run / "checkpoint" / "state.json").read_text())["problem"]
    return Problem(int(saved["obs_dim"]), int(saved["action_dim"]), tuple(saved["action_low"]),
                   tuple(saved["action_high"]))
