"""Helpers for the trainer tests: reading back what a trainer's checkpoint records, and the mark for tests that
need a CPU with native bfloat16."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vla_bench.training.algorithm import Problem
from vla_bench.training.precision import native_bf16

# bf16 training is refused where bfloat16 would be emulated (tests/training/test_precision.py checks the refusal)
needs_native_bf16 = pytest.mark.skipif(not native_bf16("cpu"),
                                       reason="this CPU has no native bfloat16 (AMX or AVX512-BF16)")


def checkpoint_problem(run: Path) -> Problem:
    """The run's :class:`Problem` from ``checkpoint/state.json`` (``dataclasses.asdict``: the action box as lists)."""
    saved = json.loads((run / "checkpoint" / "state.json").read_text())["problem"]
    return Problem(int(saved["obs_dim"]), int(saved["action_dim"]), tuple(saved["action_low"]),
                   tuple(saved["action_high"]))
